"""(ground-truth object, slot) pairs of one batch by IoU-Hungarian matching.

Appendix E.2: the ground-truth object masks are matched to the K predicted masks by the linear
assignment with IoU as the cost; each matched pair contributes (the object's factors, the slot's
code). The matching itself is :func:`emorl_eval.metrics.hungarian_match` (the one used for the
matched-IoU metric): segments are the argmax of the soft masks over K, the background label is
never an object, and only visible objects (flagged visible and with at least one pixel) are
matched. With more visible objects than slots, the K best-assigned objects get a slot and the
rest are left out; an image without visible objects gives no pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from emorl_eval.errors import DataError
from emorl_eval.evaluate import _resize_labels as resize_labels
from emorl_eval.metrics import hungarian_match


@dataclass
class BatchPairs:
    """The matched pairs of one batch (``P`` pairs).

    Attributes:
        codes: ``[P, D]`` float64 slot codes.
        factors: ``[P, F]`` float64 ground-truth factors of the matched objects.
        ious: ``[P]`` IoU of each pair.
        image: ``[P]`` int64 index of the image within the batch.
        obj: ``[P]`` int64 object index ``j`` (label ``j + 1``).
        slot: ``[P]`` int64 slot index ``k``.
        num_visible: visible (scored) objects in the batch, matched or not.
    """

    codes: np.ndarray
    factors: np.ndarray
    ious: np.ndarray
    image: np.ndarray
    obj: np.ndarray
    slot: np.ndarray
    num_visible: int


def match_pairs(
    latents: Tensor,
    masks: Tensor,
    true_masks: Tensor,
    visibility: Tensor,
    factors: Tensor,
) -> BatchPairs:
    """Match visible ground-truth objects to slots and gather their (factors, code) pairs.

    Args:
        latents: ``[B, K, D]`` slot codes (``ModelOutput.latents``).
        masks: ``[B, K, 1, H, W]`` or ``[B, K, H, W]`` soft masks normalised over K.
        true_masks: ``[B, H', W']`` label maps (0 = background, 1..M); resized to ``(H, W)`` by
            nearest neighbour when the sizes differ.
        visibility: ``[B, M]`` bool.
        factors: ``[B, M, F]`` per-object factors.

    Returns:
        :class:`BatchPairs`, rows ordered by image then object.
    """
    if latents.dim() != 3 or latents.shape[:2] != masks.shape[:2]:
        raise DataError(f"latents {tuple(latents.shape)} must be [B, K, D] matching masks {tuple(masks.shape)}")
    if factors.dim() != 3 or factors.shape[:2] != visibility.shape:
        raise DataError(f"factors {tuple(factors.shape)} must be [B, M, F] matching visibility "
                        f"{tuple(visibility.shape)}")
    masks = masks.detach()
    true = resize_labels(true_masks.to(masks.device), tuple(masks.shape[-2:]))
    matching = hungarian_match(true, masks, visibility=visibility.to(masks.device))
    pairs = matching.pairs().cpu().numpy()  # [P, 3] (image, object, slot)
    image, obj, slot = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    lat = latents.detach().to(torch.float64).cpu().numpy()
    fac = factors.detach().to(torch.float64).cpu().numpy()
    ious = matching.ious.cpu().numpy()
    # visible = flagged and non-empty, as scored by the matching (matched or left without a slot)
    m = visibility.shape[1]
    flat = true.flatten(1).cpu().clamp(0, m)
    present = torch.zeros(flat.shape[0], m + 1, dtype=torch.bool).scatter_(1, flat, True)[:, 1:]
    num_visible = int((present & visibility.cpu().bool()).sum())
    return BatchPairs(
        codes=lat[image, slot].reshape(len(pairs), lat.shape[2]),
        factors=fac[image, obj].reshape(len(pairs), fac.shape[2]),
        ious=ious[image, obj].astype(np.float64),
        image=image.astype(np.int64),
        obj=obj.astype(np.int64),
        slot=slot.astype(np.int64),
        num_visible=num_visible,
    )
