"""Turning the accepted mask formats into integer label maps, with input validation.

Ground truth may be an integer label map ``[B, H, W]`` (0 = background, 1..M objects) or
per-entity masks ``[B, M+1, H, W]`` / ``[B, M+1, 1, H, W]`` (entity 0 = background, e.g. the
0/255 masks of the EfficientMORL files), reduced by argmax over entities as the reference does.
Predictions may be an integer label map ``[B, H, W]`` or soft masks ``[B, K, H, W]`` /
``[B, K, 1, H, W]`` reduced by argmax over K (ties go to the lowest slot index).
"""

from __future__ import annotations

import torch
from torch import Tensor

from emorl_eval.errors import DataError


def _check_tensor(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise DataError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise DataError(f"{name}: empty tensor of shape {tuple(x.shape)}")
    return x


def _integral_labels(x: Tensor, name: str) -> Tensor:
    """Validate a label map ``[B, H, W]`` and return it as int64."""
    if x.dtype == torch.bool:
        raise DataError(f"{name}: a [B, H, W] label map must hold integers, got dtype bool")
    if x.is_floating_point():
        if not torch.all(torch.isfinite(x)) or not torch.all(x == torch.round(x)):
            raise DataError(f"{name}: a [B, H, W] label map must hold integers, got non-integral floats")
    labels = x.long()
    if labels.min() < 0:
        raise DataError(f"{name}: label map holds negative labels (min {int(labels.min())})")
    return labels


def to_labels(x: Tensor, name: str) -> tuple[Tensor, int]:
    """Reduce a mask tensor to ``(labels [B, H, W] int64, num_labels)``.

    ``num_labels`` is the size of the label alphabet: the entity/slot count for stacked masks,
    ``max label + 1`` for label maps.
    """
    x = _check_tensor(x, name)
    if x.dim() == 3:
        labels = _integral_labels(x, name)
        return labels, int(labels.max()) + 1
    if x.dim() == 5:
        if x.shape[2] != 1:
            raise DataError(f"{name}: 5-D masks must be [B, K, 1, H, W], got {tuple(x.shape)}")
        x = x[:, :, 0]
    if x.dim() != 4:
        raise DataError(
            f"{name}: expected a label map [B, H, W] or masks [B, K, H, W] / [B, K, 1, H, W], "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[1] == 1 and not x.is_floating_point() and x.dtype != torch.bool and int(x.max()) not in (0, 1, 255):
        raise DataError(f"{name}: {tuple(x.shape)} looks like a label map with a channel axis; pass it as [B, H, W]")
    # a non-finite sum is cheap to test and catches every NaN / inf (and nothing else in masks)
    if x.is_floating_point() and not torch.isfinite(x.sum()):
        raise DataError(f"{name}: masks contain NaN or infinite values")
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return argmax_over_slots(x), int(x.shape[1])


def argmax_over_slots(x: Tensor) -> Tensor:
    """``x [B, K, H, W]`` -> ``[B, H, W]`` int64 index of the largest value (first one on ties).

    Same result as ``x.argmax(dim=1)`` but a running maximum over the K slices, which is several
    times faster on the CPU than a reduction over a strided middle dimension.
    """
    best = x[:, 0].clone()
    index = torch.zeros(best.shape, dtype=torch.long, device=x.device)
    for k in range(1, x.shape[1]):
        xk = x[:, k]
        index.masked_fill_(xk > best, k)  # strict: ties keep the lower slot, like argmax
        torch.maximum(best, xk, out=best)
    return index


def paired_labels(true_masks: Tensor, pred_masks: Tensor) -> tuple[Tensor, int, Tensor, int]:
    """Labels of both sides with matching ``[B, H, W]``: ``(true, M, pred, K)``."""
    true, m = to_labels(true_masks, "true_masks")
    pred, k = to_labels(pred_masks, "pred_masks")
    if true.shape != pred.shape:
        raise DataError(
            f"true_masks and pred_masks disagree on [B, H, W]: {tuple(true.shape)} vs {tuple(pred.shape)}"
        )
    if true.device != pred.device:
        pred = pred.to(true.device)
    return true, m, pred, k


def contingency(true: Tensor, m: int, pred: Tensor, k: int, keep: Tensor | None = None) -> Tensor:
    """Per-image contingency tables ``[B, m, k]`` (int64): pixel counts of (true label, pred label).

    One ``bincount`` over the whole batch; ``keep [B, H, W]`` (bool) selects the counted pixels.
    """
    b = true.shape[0]
    # in-place arithmetic on one int64 buffer: the temporaries of `offset + true * k + pred`
    # cost several times the bincount itself on the CPU
    idx = true * k
    idx += pred
    idx += torch.arange(b, device=true.device).view(b, 1, 1) * (m * k)
    if keep is not None:  # dropped pixels go to one spare bin (cheaper than boolean indexing)
        idx.masked_fill_(~keep, b * m * k)
    counts = torch.bincount(idx.view(-1), minlength=b * m * k + 1)
    return counts[: b * m * k].view(b, m, k)
