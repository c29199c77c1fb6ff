"""Small helpers shared by the comparison models (GENESIS, Slot Attention, IODINE).

Only what ``models/components/`` does not provide lives here: explicit-noise sampling, an
eval-mode context for the symmetry probes, coordinate grids and config coercion.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterator

import torch
from torch import Tensor, nn


def randn(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype, drawn from ``generator``.

    The noise is drawn on the generator's device (CPU generators work for any model device) and
    then moved, so a seeded forward pass gives the same numbers on every device.
    """
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(device=like.device, dtype=like.dtype)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Temporarily switch ``module`` to eval mode (BatchNorm uses running statistics, nothing is
    updated), restoring the previous mode afterwards. Used by the symmetry probes so they are pure
    functions of their inputs."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def coord_grid(height: int, width: int, like: Tensor) -> Tensor:
    """Linear coordinate channels in ``[-1, 1]``: ``[2, H, W]`` = (x along W, y along H)."""
    ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=0)


def coerce_config(cls: type, values: dict[str, Any]) -> Any:
    """Build config dataclass ``cls`` from a plain dict (e.g. one read back from a checkpoint).

    Lists become tuples for tuple-typed fields (JSON has no tuples); unknown keys raise
    ``ConfigError`` naming the key.
    """
    from emorl_eval.errors import ConfigError

    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) for {cls.__name__}: {', '.join(unknown)}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**fixed)


def gaussian_nll(images: Tensor, recon: Tensor, sigma: float) -> Tensor:
    """Per-image NLL of ``images`` under N(recon, sigma^2) per pixel-channel, ``[B]``.

    The constant ``0.5 * log(2 pi)`` per pixel-channel is omitted (EfficientMORL's convention,
    shared by every model here so NLL columns compare).
    """
    log_sigma = float(torch.log(torch.tensor(sigma)))
    nll = 0.5 * ((images - recon) / sigma) ** 2 + log_sigma
    return nll.flatten(1).sum(1)


def gmm_log_terms(images: Tensor, components: Tensor, log_masks: Tensor, sigma: float) -> Tensor:
    """``log m_k + log N(x; y_k, sigma^2)`` per pixel-channel, ``[B, K, C, H, W]`` (no constant)."""
    log_sigma = float(torch.log(torch.tensor(sigma)))
    normal_ll = -0.5 * ((images.unsqueeze(1) - components) / sigma) ** 2 - log_sigma
    return log_masks + normal_ll


def gmm_nll(images: Tensor, components: Tensor, log_masks: Tensor, sigma: float) -> Tensor:
    """Per-image NLL under the pixel-wise mixture ``sum_k m_k N(x; y_k, sigma^2)``, ``[B]``.

    Args:
        images: ``[B, C, H, W]``; components: ``[B, K, C, H, W]``; log_masks: ``[B, K, 1, H, W]``.
    """
    ll = torch.logsumexp(gmm_log_terms(images, components, log_masks, sigma), dim=1)
    return -ll.flatten(1).sum(1)


def softplus_to_std(raw: Tensor) -> Tensor:
    """EfficientMORL/IODINE parameterisation of a std from a softplus parameter (eq. 10-11):
    ``sqrt(log(1 + exp(min(raw, 80))) + 1e-5)``."""
    raw = torch.clamp(raw, max=80.0)
    return torch.sqrt(torch.log1p(torch.exp(raw)) + 1e-5)


def std_normal_kl(mean: Tensor, std: Tensor) -> Tensor:
    """Elementwise KL(N(mean, std^2) || N(0, 1))."""
    var = std**2
    return 0.5 * (var + mean**2 - 1.0) - torch.log(std)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
