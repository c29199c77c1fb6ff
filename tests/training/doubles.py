"""Test double for the trainer: a tiny linear slot model with a GECO-like buffer update.

``install()`` registers the model as ``"tiny"`` (preset ``"small"``) in the model registry and the
presets module, delegating every other name to the real functions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models.interface import DecodedScene, ModelOutput, ObjectCentricModel

TINY_TRAINING = {
    "steps": 8,
    "batch_size": 4,
    "lr": 1e-2,
    "warmup_steps": 2,
    "clip_grad_norm": 5.0,
    "refinement_curriculum": [[-1, 2], [4, 1]],
}


@dataclass
class TinyConfig:
    num_slots: int = 2
    latent_dim: int = 3
    image_size: tuple[int, int] = (35, 35)
    refinement_steps: int = 1
    noise: float = 1.0
    geco_target: float = -5.0
    use_geco: bool = True


class TinyModel(ObjectCentricModel):
    """A linear slot VAE with a GECO-like buffer update; records the hooks the trainer calls."""

    model_name = "tiny"
    supports_refinement = True
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        k, d = config.num_slots, config.latent_dim
        h, w = config.image_size
        self.encoder = nn.Linear(3 * h * w, k * 2 * d)
        self.refine = nn.Linear(2 * d, 2 * d)
        # no bias: a bias shared by all slots cannot change softmax masks, its gradient is float noise
        self.decoder = nn.Linear(d, 4 * h * w, bias=False)
        self.register_buffer("geco_beta", torch.tensor(0.55))
        self.register_buffer("geco_C_ema", torch.tensor(0.0))
        self.train_steps: list[int] = []
        self.refinement_seen: list[int] = []

    def forward(self, images: Tensor, refinement_steps: int | None = None, generator=None, decode_stages=False) -> ModelOutput:
        cfg = self.config
        b = images.shape[0]
        iterations = cfg.refinement_steps if refinement_steps is None else refinement_steps
        self.refinement_seen.append(iterations)
        lam = self.encoder(images.flatten(1)).view(b, cfg.num_slots, 2 * cfg.latent_dim)
        for _ in range(iterations):
            lam = lam + 0.1 * torch.tanh(self.refine(lam))
        mu, logvar = lam.chunk(2, dim=-1)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + cfg.noise * torch.exp(0.5 * logvar) * eps
        scene = self.decode(z)
        nll = ((images - scene.recon) ** 2).sum((1, 2, 3)) / (2 * 0.3**2)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum((1, 2))
        if cfg.use_geco:
            loss = kl.mean() + F.softplus(self.geco_beta) * nll.mean()
        else:
            loss = (nll + kl).mean()
        extras = {"geco_beta": self.geco_beta.detach().clone(), "geco_C_ema": self.geco_C_ema.detach().clone()}
        return ModelOutput(loss=loss, nll=nll, kl=kl, recon=scene.recon, masks=scene.masks,
                           components=scene.components, latents=mu, extras=extras)

    def decode(self, z: Tensor) -> DecodedScene:
        b, k, _ = z.shape
        h, w = self.config.image_size
        out = self.decoder(z).view(b, k, 4, h, w)
        logits = out[:, :, 3:]
        masks = torch.softmax(logits, dim=1)
        comps = torch.sigmoid(out[:, :, :3])
        return DecodedScene((masks * comps).sum(1), masks, comps, logits)

    def sample_prior(self, n: int, generator=None) -> Tensor:
        return torch.randn(n, self.num_slots, self.latent_dim, generator=generator)

    def on_train_step(self, step: int) -> None:
        self.train_steps.append(step)

    def after_backward(self, output: ModelOutput) -> None:
        if not self.config.use_geco:
            return
        with torch.no_grad():
            constraint = self.config.geco_target - output.nll.detach().float().mean()
            self.geco_C_ema.mul_(0.99).add_(0.01 * constraint)
            self.geco_beta.copy_(torch.clamp(self.geco_beta - 1e-3 * self.geco_C_ema, min=0.55))


def install(monkeypatch=None) -> None:
    """Register ``tiny`` (preset ``small``) in the model registry and the presets module."""
    from emorl_eval import models
    import emorl_eval.models.presets as presets

    def setattr_(obj, name, value):
        if monkeypatch is not None:
            monkeypatch.setattr(obj, name, value, raising=False)
        else:
            setattr(obj, name, value)

    if monkeypatch is not None:
        monkeypatch.setitem(models._REGISTRY, "tiny", "tests.training.doubles:TinyModel")
    else:
        models._REGISTRY["tiny"] = "tests.training.doubles:TinyModel"
    real_resolve, real_defaults = presets.resolve_config, presets.training_defaults
    if getattr(real_resolve, "_tiny", False):
        return

    def resolve_config(name, preset=None, overrides=None, **kw):
        if name != "tiny":
            return real_resolve(name, preset, overrides, **kw)
        from emorl_eval.errors import ConfigError

        if preset not in (None, "small"):
            raise ConfigError(f"unknown preset {preset!r} for model 'tiny'")
        return TinyConfig(**(overrides or {}))

    def training_defaults(name, preset=None):
        if name != "tiny":
            return real_defaults(name, preset)
        resolve_config(name, preset, {})
        return dict(TINY_TRAINING)

    resolve_config._tiny = True
    setattr_(presets, "resolve_config", resolve_config)
    setattr_(presets, "training_defaults", training_defaults)
