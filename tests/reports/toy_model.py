"""A tiny model behind the common interface with a known leakage.

Slot k owns a fixed vertical stripe of the image (its mask is ~1 there, ~0 elsewhere, whatever
the latents) and paints it with colour ``sigmoid(W z_k)``; with ``coupled=True`` the colour of
every slot also depends on the mean of all slots' latents, so varying one slot repaints the
whole image. Uncoupled leakage is therefore 0 and coupled leakage is large.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from emorl_eval.models.interface import DecodedScene, ModelOutput, ObjectCentricModel, StageOutput


@dataclass
class ToyConfig:
    num_slots: int = 3
    latent_dim: int = 4
    image_size: tuple[int, int] = (12, 12)
    coupled: bool = False


class ToyModel(ObjectCentricModel):
    model_name = "toy"

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        g = torch.Generator().manual_seed(0)
        d = config.latent_dim
        self.encode_w = nn.Parameter(torch.randn(3, d, generator=g))
        self.colour_w = nn.Parameter(torch.randn(d, 3, generator=g))
        self.couple_w = nn.Parameter(torch.randn(d, 3, generator=g) * (3.0 if config.coupled else 0.0))
        h, w = config.image_size
        stripe = (torch.arange(w) * config.num_slots) // w  # [W] slot owning each column
        onehot = (stripe[None, :] == torch.arange(config.num_slots)[:, None]).float()  # [K, W]
        self.register_buffer("mask_logits", (40.0 * onehot)[:, None, None, :].expand(-1, 1, h, -1).clone())

    def decode(self, z: Tensor) -> DecodedScene:
        b, k, _ = z.shape
        h, w = self.image_size
        colour = torch.sigmoid(z @ self.colour_w + (z.mean(1, keepdim=True) @ self.couple_w))  # [B, K, 3]
        components = colour[..., None, None].expand(b, k, 3, h, w)
        logits = self.mask_logits[None].expand(b, -1, -1, -1, -1)
        masks = torch.softmax(logits, dim=1)
        return DecodedScene(recon=(masks * components).sum(1), masks=masks, components=components,
                            mask_logits=logits)

    def _encode(self, images: Tensor) -> Tensor:
        masks = torch.softmax(self.mask_logits, 0)[None, :, 0]  # [1, K, H, W]
        mean = (images[:, None] * masks[:, :, None]).flatten(3).sum(-1) / masks.flatten(2).sum(-1)[..., None]
        return mean @ self.encode_w  # [B, K, D]

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False) -> ModelOutput:
        z = self._encode(images)
        noise = torch.randn(z.shape, generator=generator, device=z.device) * 0.01
        scene = self.decode(z + noise)
        nll = ((images - scene.recon) ** 2).flatten(1).sum(1)
        kl = 0.5 * (z ** 2).flatten(1).sum(1)
        att = scene.masks[:, :, 0]
        stages = [StageOutput(name="layer1", means=z * 0.5, attention=att),
                  StageOutput(name="layer2", means=z, attention=att)]
        if decode_stages:
            for s in stages:
                d = self.decode(s.means)
                s.masks, s.recon = d.masks, d.recon
        return ModelOutput(loss=(nll + kl).mean(), nll=nll, kl=kl, recon=scene.recon, masks=scene.masks,
                           components=scene.components, latents=z, stages=stages)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, self.num_slots, self.latent_dim, generator=generator)
