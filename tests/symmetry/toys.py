"""Toy object-centric models for testing the symmetry checker.

``ToySlotModel`` is a miniature EfficientMORL: a set-attention posterior step (softmax over the K
slots, weighted mean over the N features, weight-tied update plus explicit noise), a weight-tied
per-slot decoder whose masks are a softmax over K and whose image is a sum over K, a loss that
sums over K, and an input-order probe. With ``breach`` set it becomes deliberately asymmetric:

* ``"offset"``: slot k of the posterior update gets ``+ k * eps`` (a slot-index bias);
* ``"cumsum"``: the decoder's per-slot features are a cumulative sum over slots (autoregressive);
* ``"position"``: input features are weighted by their index n before attention (breaks A.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from emorl_eval.models.interface import DecodedScene, EquivarianceProbe, ModelOutput, ObjectCentricModel


@dataclass
class ToyConfig:
    num_slots: int = 4
    latent_dim: int = 6
    image_size: tuple[int, int] = (6, 5)
    feature_dim: int = 8


class ToySlotModel(ObjectCentricModel):
    model_name = "toy"

    def __init__(self, config: ToyConfig | None = None, breach: str | None = None, eps: float = 1e-2,
                 claimed: bool = True) -> None:
        super().__init__(config or ToyConfig())
        c = self.config
        self.breach, self.eps, self.claimed = breach, eps, claimed
        self.encoder = nn.Linear(3 + 2, c.feature_dim)
        self.to_k = nn.Linear(c.feature_dim, c.latent_dim, bias=False)
        self.to_v = nn.Linear(c.feature_dim, c.latent_dim, bias=False)
        self.to_q = nn.Linear(c.latent_dim, c.latent_dim, bias=False)
        self.update = nn.GRUCell(c.latent_dim, c.latent_dim)
        self.decoder = nn.Sequential(nn.Linear(c.latent_dim + 2, 16), nn.ELU(), nn.Linear(16, 4))
        self.z0_mu = nn.Parameter(torch.randn(c.latent_dim) * 0.5)

    # --- pieces -------------------------------------------------------------------------
    def features(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` -> positionally-encoded flattened features ``[B, N, C]``."""
        b, _, h, w = images.shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        grid = torch.stack([ys, xs]).to(images)[None].expand(b, -1, -1, -1)
        x = torch.cat([images, grid], 1).flatten(2).transpose(1, 2)
        return self.encoder(x)

    def posterior_step(self, features: Tensor, z: Tensor, noise: Tensor) -> dict[str, Tensor]:
        """Set attention over N, softmax over K, then a weight-tied GRU: ``[B, K, D]``."""
        if self.breach == "position":
            n = features.shape[1]
            features = features * torch.linspace(0.5, 1.5, n).to(features)[None, :, None]
        q = self.to_q(z)
        k, v = self.to_k(features), self.to_v(features)
        logits = torch.einsum("bkd,bnd->bkn", q, k) / q.shape[-1] ** 0.5
        attn = logits.softmax(dim=1) + 1e-8
        attn = attn / attn.sum(dim=2, keepdim=True)
        updates = torch.einsum("bkn,bnd->bkd", attn, v)
        b, kk, d = z.shape
        mean = self.update(updates.reshape(b * kk, d), z.reshape(b * kk, d)).reshape(b, kk, d)
        if self.breach == "offset":
            mean = mean + self.eps * torch.arange(kk).to(mean)[None, :, None]
        return {"mean": mean, "sample": mean + 0.1 * noise}

    def decode(self, z: Tensor) -> DecodedScene:
        b, k, d = z.shape
        h, w = self.image_size
        if self.breach == "cumsum":
            z = z.cumsum(dim=1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        grid = torch.stack([ys, xs], -1).to(z)  # [H, W, 2]
        inp = torch.cat([z[:, :, None, None, :].expand(b, k, h, w, d), grid.expand(b, k, h, w, 2)], -1)
        out = self.decoder(inp).permute(0, 1, 4, 2, 3)  # [B, K, 4, H, W]
        components, mask_logits = out[:, :, :3].sigmoid(), out[:, :, 3:]
        masks = mask_logits.softmax(dim=1)
        return DecodedScene((masks * components).sum(1), masks, components, mask_logits)

    def infer(self, images: Tensor, z0: Tensor, noise: Tensor) -> dict[str, Tensor]:
        feats = self.features(images)
        step = self.posterior_step(feats, z0, noise)
        scene = self.decode(step["sample"])
        nll = ((scene.recon - images) ** 2).flatten(1).sum(1)
        kl = 0.5 * (step["mean"] ** 2).sum((1, 2))
        return {"mean": step["mean"], "masks": scene.masks, "recon": scene.recon, "loss": nll + kl}

    # --- interface ------------------------------------------------------------------------
    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False) -> ModelOutput:
        b = images.shape[0]
        k, d = self.num_slots, self.latent_dim
        z0 = self.z0_mu + torch.randn(b, k, d, generator=generator)
        noise = torch.randn(b, k, d, generator=generator)
        out = self.infer(images, z0, noise)
        scene = self.decode(out["mean"])
        return ModelOutput(out["loss"].mean(), out["loss"], torch.zeros(b), scene.recon, scene.masks,
                           scene.components, out["mean"])

    def sample_prior(self, n, generator=None) -> Tensor:
        return torch.randn(n, self.num_slots, self.latent_dim, generator=generator)

    def _slot_inputs(self, b: int, g: torch.Generator) -> dict[str, Tensor]:
        h, w = self.image_size
        k, d = self.num_slots, self.latent_dim
        return {"image": torch.rand(b, 3, h, w, generator=g), "z": torch.randn(b, k, d, generator=g),
                "noise": torch.randn(b, k, d, generator=g)}

    def equivariance_probes(self) -> list[EquivarianceProbe]:
        k, d = self.num_slots, self.latent_dim

        def posterior(x):
            return self.posterior_step(self.features(x["image"]), x["z"], x["noise"])

        def decoder(x):
            scene = self.decode(x["z"])
            return {"masks": scene.masks, "components": scene.components, "recon": scene.recon}

        def inference(x):
            return self.infer(x["image"], x["z"], x["noise"])

        return [
            EquivarianceProbe("posterior_layer", posterior, self._slot_inputs, fixed_keys=("image",),
                              claimed=self.claimed),
            EquivarianceProbe("decoder", decoder, lambda b, g: {"z": torch.randn(b, k, d, generator=g)},
                              invariant_keys=("recon",), claimed=self.claimed),
            EquivarianceProbe("inference", inference, self._slot_inputs, fixed_keys=("image",),
                              invariant_keys=("recon", "loss"), claimed=self.claimed),
        ]

    def input_order_probe(self) -> EquivarianceProbe:
        h, w = self.image_size
        k, d = self.num_slots, self.latent_dim

        def make(b, g):
            return {"features": self.features(torch.rand(b, 3, h, w, generator=g)),
                    "z": torch.randn(b, k, d, generator=g), "noise": torch.randn(b, k, d, generator=g)}

        return EquivarianceProbe("posterior_layer", lambda x: self.posterior_step(x["features"], x["z"], x["noise"]),
                                 make, fixed_keys=("z", "noise"))


class NoProbeModel(ToySlotModel):
    """A model that exposes nothing to check."""

    def equivariance_probes(self) -> list[EquivarianceProbe]:
        return []

    def input_order_probe(self) -> None:
        return None
