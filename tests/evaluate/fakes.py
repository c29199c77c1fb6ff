"""A tiny stand-in model implementing the interface, to test the runner without a real model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from emorl_eval.models.interface import DecodedScene, ModelOutput, ObjectCentricModel


@dataclass
class FakeConfig:
    num_slots: int = 4
    latent_dim: int = 3
    image_size: tuple[int, int] = (35, 35)
    refinement_steps: int = 2


class FakeModel(ObjectCentricModel):
    """Masks from a fixed colour projection plus noise that shrinks with each refinement step."""

    model_name = "fake"
    supports_refinement = True

    def __init__(self, config: FakeConfig | None = None) -> None:
        super().__init__(config or FakeConfig())
        g = torch.Generator().manual_seed(0)
        self.proj = nn.Parameter(torch.randn(self.num_slots, 3, generator=g))

    def forward(self, images: Tensor, refinement_steps: int | None = None,
                generator: torch.Generator | None = None, decode_stages: bool = False) -> ModelOutput:
        steps = self.config.refinement_steps if refinement_steps is None else int(refinement_steps)
        if not self.supports_refinement:
            steps = 0
        b, _, h, w = images.shape
        k = self.num_slots
        logits = 8 * torch.einsum("kc,bchw->bkhw", self.proj, images - 0.5)
        noise = torch.randn(b, k, h, w, generator=generator, device=images.device)
        masks = (logits + 2.0 * noise / (1 + steps)).softmax(dim=1).unsqueeze(2)
        components = images.unsqueeze(1).expand(b, k, 3, h, w) * 0.9
        recon = (masks * components).sum(dim=1)
        kl = 10.0 + steps + torch.rand(b, generator=generator, device=images.device)
        nll = ((images - recon) ** 2).flatten(1).sum(1)
        return ModelOutput(loss=(nll + kl).mean(), nll=nll, kl=kl, recon=recon, masks=masks,
                           components=components, latents=torch.zeros(b, k, self.latent_dim))

    def decode(self, z: Tensor) -> DecodedScene:  # pragma: no cover - not used by the runner
        raise NotImplementedError

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class FakeNoRefinement(FakeModel):
    model_name = "fake_norefine"
    supports_refinement = False
