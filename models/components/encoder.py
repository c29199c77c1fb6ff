"""Slot Attention's image encoder with the additive positional embedding (appendix F.1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emorl_eval.models.components.init import xavier_init
from emorl_eval.models.components.position import position_grid


class ImageEncoder(nn.Module):
    """4 x (Conv5x5 stride 1 pad 2, ReLU) -> + Linear(4->C)(position grid) -> flatten ->
    LayerNorm, Linear, ReLU, Linear.

    Args:
        image_size: (H, W).
        in_channels: image channels (3).
        channels: feature width C (64 in EfficientMORL and Slot Attention).
    """

    def __init__(self, image_size: tuple[int, int], in_channels: int = 3, channels: int = 64) -> None:
        super().__init__()
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.channels = channels
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Conv2d(in_channels if i == 0 else channels, channels, 5, 1, 2), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)
        self.pos_proj = nn.Linear(4, channels)  # PyTorch default init, as in the reference
        self.mlp = nn.Sequential(
            nn.LayerNorm(channels), nn.Linear(channels, channels), nn.ReLU(inplace=True),
            nn.Linear(channels, channels),
        )
        xavier_init(self.conv)
        xavier_init(self.mlp)
        self.register_buffer("grid", position_grid(*self.image_size), persistent=False)
        #: run the convolutions on channels-last activations (same math, faster on CPU)
        self.channels_last = True

    def positional_features(self, images: Tensor) -> Tensor:
        """Conv features plus the projected position grid, flattened: ``[B, N=H*W, C]``.

        Args:
            images: ``[B, in_channels, H, W]`` (EfficientMORL feeds ``[-1, 1]``).
        """
        # channels-last activations: faster oneDNN convolutions, and the permute below is free
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        feats = self.conv(images.contiguous(memory_format=fmt)).permute(0, 2, 3, 1)  # [B, H, W, C]
        feats = feats + self.pos_proj(self.grid)
        return feats.reshape(feats.shape[0], -1, self.channels)

    def project(self, features: Tensor) -> Tensor:
        """The per-position MLP: ``[B, N, C] -> [B, N, C]``."""
        return self.mlp(features)

    def forward(self, images: Tensor) -> Tensor:
        """``[B, in_channels, H, W] -> [B, H*W, C]`` (keys/values source for set attention)."""
        return self.project(self.positional_features(images))
