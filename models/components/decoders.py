"""Spatial broadcast decoders (appendix F.1): ``iodine``, ``small`` (Tetrominoes) and ``big``
(Slot Attention's deconvolutional decoder).

Each slot latent ``z [D]`` is broadcast on a grid, a Linear(4 -> D) projection of the decoder's
own position grid is added, and a CNN maps it to 4 channels: RGB logits and a mask logit.

Speed: the first convolution of the broadcast decoders sees ``broadcast(z) + P`` where ``P`` is
the same for every slot. By linearity ``conv(broadcast(z) + P) = A z + conv(P)``: ``conv(P)``
is computed once per call and ``A z`` is a per-slot matrix product (``A`` sums the kernel taps
that fall inside the grid). This is the reference's math, about k*k times cheaper for that layer.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models.components.init import xavier_init
from emorl_eval.models.components.position import position_grid

DecoderKind = Literal["iodine", "small", "big"]
DECODER_KINDS: tuple[str, ...] = ("iodine", "small", "big")


def _big_grid(image_size: tuple[int, int]) -> tuple[int, int]:
    h, w = image_size
    if h % 16 or w % 16:
        raise ValueError(f"decoder 'big' needs image sides divisible by 16, got {h}x{w}")
    return h // 16, w // 16


class SpatialBroadcastDecoder(nn.Module):
    """Decodes slot latents independently into RGB components and mask logits.

    Args:
        kind: ``iodine`` (grid H+10, 4 x Conv3x3 64 ELU no pad, Conv3x3 -> 4),
            ``small`` (grid H+6, 3 x Conv5x5 32 pad 1 ReLU, Conv3x3 pad 1 -> 4) or
            ``big`` (grid H/16, 4 x ConvT5x5 stride 2 + ConvT5x5 stride 1 64 ReLU, ConvT3x3 -> 4).
        latent_dim: D.
        image_size: (H, W) of the output.
        out_channels: 4 (3 RGB + 1 mask logit).
    """

    def __init__(self, kind: str, latent_dim: int, image_size: tuple[int, int], out_channels: int = 4) -> None:
        super().__init__()
        h, w = int(image_size[0]), int(image_size[1])
        self.kind = kind
        self.latent_dim = latent_dim
        self.image_size = (h, w)
        self.out_channels = out_channels
        d = latent_dim
        if kind == "iodine":
            layers: list[nn.Module] = []
            for i in range(4):
                layers += [nn.Conv2d(d if i == 0 else 64, 64, 3, 1), nn.ELU(inplace=True)]
            layers.append(nn.Conv2d(64, out_channels, 3, 1))
            grid = (h + 10, w + 10)
        elif kind == "small":
            layers = []
            for i in range(3):
                layers += [nn.Conv2d(d if i == 0 else 32, 32, 5, 1, 1), nn.ReLU(inplace=True)]
            layers.append(nn.Conv2d(32, out_channels, 3, 1, 1))
            grid = (h + 6, w + 6)
        elif kind == "big":
            layers = []
            for i in range(4):
                layers += [nn.ConvTranspose2d(d if i == 0 else 64, 64, 5, 2, 2, output_padding=1), nn.ReLU(inplace=True)]
            layers += [nn.ConvTranspose2d(64, 64, 5, 1, 2), nn.ReLU(inplace=True)]
            layers.append(nn.ConvTranspose2d(64, out_channels, 3, 1, 1))
            grid = _big_grid((h, w))
        else:
            raise ValueError(f"unknown decoder {kind!r}; choose one of {', '.join(DECODER_KINDS)}")
        self.decode = nn.Sequential(*layers)
        self.pos_proj = nn.Linear(4, d)
        self.grid_size = grid
        self.register_buffer("grid", position_grid(*grid), persistent=False)
        xavier_init(self)
        #: use the factorised first convolution (exact same math; False = plain broadcast)
        self.fast_first_layer = kind in ("iodine", "small")
        #: run the convolutions on channels-last activations (same math, faster on CPU)
        self.channels_last = True

    # --- helpers -------------------------------------------------------------------------
    def _position_map(self) -> Tensor:
        """Projected position grid ``[1, D, gh, gw]``."""
        return self.pos_proj(self.grid).permute(2, 0, 1).unsqueeze(0)

    def _first_layer_fast(self, z: Tensor) -> Tensor:
        """``conv0(broadcast(z) + P)`` as ``A z + conv0(P)``: ``z [M, D] -> [M, C1, h1, w1]``.

        The result is built in ``[M, h1, w1, C1]`` memory, i.e. it is returned as a channels-last
        tensor without a layout copy (the next convolutions want channels-last).
        """
        conv: nn.Conv2d = self.decode[0]  # type: ignore[assignment]
        pos_out = conv(self._position_map())[0].permute(1, 2, 0)  # [h1, w1, C1], includes the bias
        h1, w1, c1 = pos_out.shape
        if conv.padding[0] == 0 and conv.padding[1] == 0:
            # every tap is inside the grid: A is the kernel summed over space, the same everywhere
            zc = z @ conv.weight.sum(dim=(2, 3)).t()  # [M, C1]
            out = zc[:, None, None, :] + pos_out
        else:
            # with zero padding the border positions see fewer taps: A[c, y, x, o]
            _, d, kh, kw = conv.weight.shape
            ones = torch.ones(1, 1, *self.grid_size, dtype=z.dtype, device=z.device)
            a = F.conv2d(ones, conv.weight.reshape(c1 * d, 1, kh, kw), stride=conv.stride, padding=conv.padding)
            a = a.reshape(c1, d, h1, w1).permute(1, 2, 3, 0).reshape(d, h1 * w1 * c1)
            out = torch.addmm(pos_out.reshape(1, -1), z, a).view(-1, h1, w1, c1)
        return out.permute(0, 3, 1, 2)  # [M, C1, h1, w1] (channels-last strides)

    # --- interface -----------------------------------------------------------------------
    def forward(self, z: Tensor) -> Tensor:
        """``z [M, D] -> [M, out_channels, H, W]`` raw outputs (RGB logits, mask logit)."""
        # channels-last activations: oneDNN's convolutions (and their backward) run faster on CPU
        cl = torch.channels_last if self.channels_last else torch.contiguous_format
        if self.fast_first_layer:
            out = self._first_layer_fast(z).contiguous(memory_format=cl)
            return self.decode[1:](out)
        zb = z[:, :, None, None].expand(-1, -1, *self.grid_size)
        return self.decode((zb + self._position_map()).contiguous(memory_format=cl))

    def decode_slots(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z [B, K, D]`` -> (``rgb [B, K, 3, H, W]`` in [0, 1], ``mask_logits [B, K, 1, H, W]``)."""
        b, k, d = z.shape
        out = self(z.reshape(b * k, d))
        out = out.reshape(b, k, *out.shape[1:])
        return torch.sigmoid(out[:, :, :3]), out[:, :, 3:4]
