"""Diagonal Gaussian helpers shared by the latent-variable models.

EfficientMORL parameterises every Gaussian by a mean ``mu`` and a *softplus parameter* ``s``
(appendix F.1, eq. 10-11, as the reference code computes it):

    s' = min(s, 80)                      (eq. 10, avoids exp overflow)
    std = sqrt(log(1 + exp(s')) + 1e-5)  (eq. 11, variance = softplus + 1e-5)

The naive ``log(1 + exp(.))`` (not ``F.softplus``) is kept on purpose: it is what official
checkpoints were trained with (it differs from softplus only where the 1e-5 floor dominates).
"""

from __future__ import annotations

import torch
from torch import Tensor

SOFTPLUS_CLAMP = 80.0
VARIANCE_FLOOR = 1e-5


def softplus_to_std(s: Tensor) -> Tensor:
    """Standard deviation from the softplus parameter (eq. 10-11); any shape."""
    s = torch.clamp(s, max=SOFTPLUS_CLAMP)
    return torch.sqrt(torch.log(1.0 + torch.exp(s)) + VARIANCE_FLOOR)


def reparameterize(mu: Tensor, std: Tensor, noise: Tensor) -> Tensor:
    """``mu + std * noise`` with explicit standard-normal ``noise`` of the same shape."""
    return mu + std * noise


def standard_normal(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None = None,
                    device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """Standard-normal noise drawn from ``generator`` (None = global RNG)."""
    dev = device if device is not None else (generator.device if generator is not None else "cpu")
    return torch.randn(tuple(shape), generator=generator, device=dev, dtype=dtype)


def kl_normal_normal(mu_q: Tensor, std_q: Tensor, mu_p: Tensor, std_p: Tensor) -> Tensor:
    """Elementwise KL(N(mu_q, std_q^2) || N(mu_p, std_p^2)) (same formula as torch.distributions)."""
    var_ratio = (std_q / std_p).pow(2)
    t1 = ((mu_q - mu_p) / std_p).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


def kl_standard_normal(mu_q: Tensor, std_q: Tensor) -> Tensor:
    """Elementwise KL(N(mu_q, std_q^2) || N(0, 1))."""
    var = std_q.pow(2)
    return 0.5 * (var + mu_q.pow(2) - 1 - var.log())


def gaussian_log_density(x: Tensor, mu: Tensor, std: Tensor) -> Tensor:
    """Elementwise log N(x; mu, std^2) including the -0.5 log(2 pi) constant."""
    return -0.5 * (((x - mu) / std).pow(2) + 2 * std.log() + torch.log(torch.tensor(2 * torch.pi, dtype=x.dtype)))
