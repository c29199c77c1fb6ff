"""Image likelihoods of appendix F.1 (eq. 12-13), as negative log-likelihoods per image.

Conventions of the reference code: ``log_var = 2 * log(sigma)``, the ``-0.5 log(2 pi)`` constant
is omitted, sums run over pixels and channels; ``x`` is the image in ``[0, 1]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LIKELIHOODS: tuple[str, ...] = ("gaussian", "gmm")


def gaussian_nll(x: Tensor, recon: Tensor, sigma: float) -> Tensor:
    """Eq. 12: ``-sum_p log N(x_p; sum_k pi_kp y_kp, sigma^2)`` (constant omitted).

    Args:
        x: ``[B, C, H, W]`` in [0, 1].
        recon: ``[B, C, H, W]`` = sum over K of masks * components.
    Returns:
        ``[B]`` nats.
    """
    log_var = 2.0 * math.log(sigma)
    sq = (x - recon).pow(2)
    return (0.5 * log_var + 0.5 * sq / math.exp(log_var)).sum(dim=(1, 2, 3))


def gmm_nll(x: Tensor, components: Tensor, log_masks: Tensor, sigma: float) -> Tensor:
    """Eq. 13: ``-sum_p log sum_k pi_kp N(x_p; y_kp, sigma^2)`` (constant omitted).

    Args:
        x: ``[B, C, H, W]`` in [0, 1].
        components: ``[B, K, C, H, W]``.
        log_masks: ``[B, K, 1, H, W]`` log-softmax of the mask logits over K.
    Returns:
        ``[B]`` nats.
    """
    log_var = 2.0 * math.log(sigma)
    sq = (x.unsqueeze(1) - components).pow(2)
    log_p = log_masks - 0.5 * log_var - 0.5 * sq / math.exp(log_var)
    return -torch.logsumexp(log_p, dim=1).sum(dim=(1, 2, 3))


def image_nll(kind: str, x: Tensor, components: Tensor, log_masks: Tensor, sigma: float,
              recon: Tensor | None = None) -> Tensor:
    """Dispatch on ``kind`` (``gaussian`` or ``gmm``); ``recon`` may be passed to avoid recomputing it."""
    if kind == "gaussian":
        if recon is None:
            recon = (log_masks.exp() * components).sum(dim=1)
        return gaussian_nll(x, recon, sigma)
    if kind == "gmm":
        return gmm_nll(x, components, log_masks, sigma)
    raise ValueError(f"unknown likelihood {kind!r}; choose one of {', '.join(LIKELIHOODS)}")
