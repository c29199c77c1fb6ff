"""Reconstruction error and the per-image KL the models report."""

from __future__ import annotations

import torch
from torch import Tensor

from emorl_eval.errors import DataError

# images are float in [0, 1] at public boundaries; a little slack for float round-off only
_RANGE_SLACK = 1e-4


def mse(images: Tensor, recon: Tensor) -> Tensor:
    """Mean squared error per image over pixels and channels (the reference's MSE).

    Args:
        images: ``[B, C, H, W]`` ground truth in ``[0, 1]``.
        recon: ``[B, C, H, W]`` reconstruction (for mixture models ``sum_k pi_k y_k``).

    Returns:
        ``[B]`` float64: ``mean over C, H, W of (images - recon)^2``.

    Raises:
        emorl_eval.errors.DataError: wrong types or shapes, non-finite values, or images outside
            ``[0, 1]`` (e.g. passed in ``[-1, 1]`` or ``[0, 255]``).
    """
    for name, x in (("images", images), ("recon", recon)):
        if not isinstance(x, Tensor):
            raise DataError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.numel() == 0:
            raise DataError(f"{name}: expected [B, C, H, W], got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise DataError(f"{name}: expected floats in [0, 1], got dtype {x.dtype}")
        if not torch.isfinite(x.sum()):
            raise DataError(f"{name}: contains NaN or infinite values")
    if images.shape != recon.shape:
        raise DataError(f"images {tuple(images.shape)} and recon {tuple(recon.shape)} differ in shape")
    lo, hi = (float(v) for v in torch.aminmax(images))
    if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
        raise DataError(f"images: values must lie in [0, 1], got range [{lo:.3g}, {hi:.3g}]")
    # in the input precision (torch sums floats pairwise: ~1e-7 relative), then float64
    sq = (images - recon.to(device=images.device, dtype=images.dtype)).square_().flatten(1)
    return sq.mean(dim=1).to(torch.float64)


def kl_per_image(kl: Tensor, batch_size: int | None = None, monte_carlo: bool = False) -> Tensor:
    """The model's per-image KL (nats), validated and returned as ``[B]`` float64.

    Models report KL themselves (``ModelOutput.kl``, summed over slots, latent dims and layers);
    this only checks it is one finite number per image, non-negative unless it is a Monte-Carlo
    estimate.

    Args:
        kl: ``[B]`` per-image KL in nats.
        batch_size: expected B, when known.
        monte_carlo: the values are single-sample estimates log q(z|x) - log p(z) (official GENESIS),
            which can be negative for one image (their mean estimates the KL without bias).
    """
    if not isinstance(kl, Tensor):
        raise DataError(f"kl: expected a torch.Tensor, got {type(kl).__name__}")
    if kl.dim() != 1 or (batch_size is not None and kl.shape[0] != batch_size):
        want = f"[{batch_size}]" if batch_size is not None else "[B]"
        raise DataError(f"kl: expected one value per image {want}, got shape {tuple(kl.shape)}")
    kl = kl.detach().to(torch.float64)
    if not torch.all(torch.isfinite(kl)):
        raise DataError("kl: contains NaN or infinite values")
    # analytic KLs are >= 0; allow float round-off but flag a sign error
    if not monte_carlo and kl.numel() and float(kl.min()) < -1e-3:
        raise DataError(f"kl: negative value {float(kl.min()):.4g}; expected KL in nats (>= 0)")
    return kl
