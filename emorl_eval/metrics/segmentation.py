"""Object-level segmentation scores: covering, best overlap, Hungarian matching.

Everything is derived from one per-image table of IoUs between each ground-truth object and each
predicted segment (argmax of the soft masks over slots), computed over all pixels with a single
``bincount`` for the whole batch. The objects scored are the foreground objects (label 0, the
background, is never an object) that are *visible*: at least one pixel in the label map and, when
a ``visibility [B, M]`` flag array is given, flagged visible.

Definitions (per image, then averaged over images by the caller):

* mSC, mean segmentation covering (GENESIS, Engelcke et al. 2020): mean over objects of the best
  IoU with any predicted segment. ``weighted=True`` gives SC, the pixel-count weighted mean.
* mBO, mean best overlap (Pont-Tuset et al.; "best_overlap" matching in DINOSAUR / the OCL
  framework): each object takes the predicted segment with the largest IoU; mean of those IoUs.
  For hard (argmax) segmentations this is the same number as mSC: both names are reported by
  peers, so both are provided, computed from the same table.
* matched IoU: slots assigned one-to-one to objects by the Hungarian method
  (``scipy.optimize.linear_sum_assignment`` on ``1 - IoU``); mean IoU of the pairs, objects left
  without a slot (more objects than slots) counting 0.
* matched coverage: with the same matching, the mean fraction of each object's pixels that its
  matched slot's segment holds (objects without a slot count 0). Unlike IoU it ignores the
  background a slot also claims: a Gaussian-likelihood model spreads the black background over
  every slot (appendix, Figure 18), so its matched IoU is low (0.27 on the authors' published
  Tetrominoes outputs, FG-ARI 1.0) while every object sits whole in its slot (coverage 1.0).

Images without any scored object score ``empty_value`` (0 by default, as the reference code).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from emorl_eval.errors import DataError
from emorl_eval.metrics._labels import contingency, paired_labels


class ObjectSlotIoU(NamedTuple):
    """IoU table of one batch.

    Attributes:
        iou: ``[B, M, K]`` float64, IoU of object ``j`` (label ``j + 1``) with predicted segment
            ``k`` over all pixels (0 where both are empty).
        sizes: ``[B, M]`` int64 pixel count of each object.
        scored: ``[B, M]`` bool, whether the object is scored (visible, non-empty).
        coverage: ``[B, M, K]`` float64, fraction of object ``j``'s pixels inside segment ``k``
            (0 for an empty object).
    """

    iou: Tensor
    sizes: Tensor
    scored: Tensor
    coverage: Tensor


class Matching(NamedTuple):
    """Result of :func:`hungarian_match`; unpacks as ``slots, ious = hungarian_match(...)``.

    Attributes:
        slots: ``[B, M]`` int64: ``slots[b, j]`` is the slot matched to object ``j`` of image ``b``
            (the object with label ``j + 1`` in the label map, i.e. row ``j`` of the dataset's
            ``visibility [B, M]`` and ``factors [B, M, F]``), or -1 when the object is not
            scored (invisible / no pixels) or was left without a slot (more objects than slots).
        ious: ``[B, M]`` float64 IoU of each matched pair; 0 where ``slots == -1``.
    """

    slots: Tensor
    ious: Tensor

    def pairs(self) -> Tensor:
        """The matched pairs as rows ``(image, object, slot)``, ``[P, 3]`` int64, ordered by image
        then object: gather ``factors[image, object]`` and ``latents[image, slot]`` with them."""
        image, obj = torch.nonzero(self.slots >= 0, as_tuple=True)
        return torch.stack([image, obj, self.slots[image, obj]], dim=1)


def object_slot_iou(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    num_objects: int | None = None,
) -> ObjectSlotIoU:
    """IoU of every (ground-truth object, predicted segment) pair.

    Args:
        true_masks: label map ``[B, H, W]`` (0 = background, 1..M objects) or per-entity masks
            ``[B, M+1, H, W]`` / ``[B, M+1, 1, H, W]`` with entity 0 the background.
        pred_masks: soft masks ``[B, K, H, W]`` / ``[B, K, 1, H, W]`` (argmax over K) or a label map
            ``[B, H, W]``.
        visibility: optional ``[B, M]`` bool; objects flagged False are not scored.
        num_objects: M for label maps when ``visibility`` is not given (default: largest label).

    Returns:
        :class:`ObjectSlotIoU` with ``iou [B, M, K]``, ``sizes [B, M]``, ``scored [B, M]``.
    """
    return iou_from_contingency(object_contingency(true_masks, pred_masks, visibility, num_objects), visibility)


def object_contingency(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    num_objects: int | None = None,
) -> Tensor:
    """Per-image contingency table ``[B, M+1, K]`` (int64) of ground-truth entities (row 0 = the
    background, rows 1..M the objects) against argmax slots; shapes as :func:`object_slot_iou`. Every
    object-level score here and in :mod:`emorl_eval.metrics.scores` / ``fates`` starts from it."""
    true, m_labels, pred, k = paired_labels(true_masks, pred_masks)
    m = resolve_num_objects(true_masks, m_labels, visibility, num_objects)
    return contingency(true, m + 1, pred, k)


def resolve_num_objects(
    true_masks: Tensor, num_labels: int, visibility: Tensor | None, num_objects: int | None
) -> int:
    """M, the number of foreground objects: from stacked masks' entity axis, else from
    ``visibility [B, M]``, else ``num_objects``, else the largest label of the label map."""
    m = num_labels - 1  # background excluded
    if true_masks.dim() == 3:  # label map: M comes from the caller when known
        source = "the largest label"
        if isinstance(visibility, Tensor) and visibility.dim() == 2:
            m, source = int(visibility.shape[1]), "visibility [B, M]"
        elif num_objects is not None:
            m, source = int(num_objects), "num_objects"
        if num_labels - 1 > m:
            raise DataError(f"true_masks: label {num_labels - 1} exceeds the number of objects M={m} ({source})")
    return m


def check_visibility(visibility: Tensor | None, b: int, m: int) -> None:
    """DataError unless ``visibility`` is None or a ``[B, M]`` tensor."""
    if visibility is not None:
        if not isinstance(visibility, Tensor) or tuple(visibility.shape) != (b, m):
            shape = tuple(visibility.shape) if isinstance(visibility, Tensor) else type(visibility).__name__
            raise DataError(f"visibility: expected [B, M] = [{b}, {m}], got {shape}")


def iou_from_contingency(table: Tensor, visibility: Tensor | None = None) -> ObjectSlotIoU:
    """IoU table from a full contingency table ``[B, M+1, K]`` (row 0 = background pixels)."""
    b, m1, _ = table.shape
    check_visibility(visibility, b, m1 - 1)
    full = table.to(torch.float64)
    seg_sizes = full.sum(dim=1, keepdim=True)  # [B, 1, K] predicted segment sizes, all pixels
    inter = full[:, 1:, :]  # [B, M, K]
    sizes = inter.sum(dim=2)  # [B, M] object pixel counts
    union = sizes.unsqueeze(2) + seg_sizes - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    scored = sizes > 0
    if visibility is not None:
        scored = scored & visibility.to(device=scored.device, dtype=torch.bool)
    coverage = inter / sizes.unsqueeze(2).clamp(min=1)
    return ObjectSlotIoU(iou=iou, sizes=sizes.long(), scored=scored, coverage=coverage)


def mean_over_scored(values: Tensor, weights: Tensor, empty_value: float) -> Tensor:
    total = weights.sum(dim=1)
    mean = (values * weights).sum(dim=1) / total.clamp(min=1e-12)
    return torch.where(total > 0, mean, torch.full_like(mean, float(empty_value)))


def segmentation_covering(
    true_masks: Tensor,
    pred_masks: Tensor,
    weighted: bool = False,
    visibility: Tensor | None = None,
    empty_value: float = 0.0,
) -> Tensor:
    """Mean segmentation covering (mSC) per image, or SC with ``weighted=True``.

    Shapes as :func:`object_slot_iou`. Returns ``[B]`` float64: the mean (pixel-weighted mean for
    SC) over scored foreground objects of the best IoU with any predicted segment.
    """
    table = object_slot_iou(true_masks, pred_masks, visibility)
    best = table.iou.max(dim=2).values
    weights = table.scored.to(torch.float64)
    if weighted:
        weights = weights * table.sizes.to(torch.float64)
    return mean_over_scored(best, weights, empty_value)


def mean_best_overlap(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    empty_value: float = 0.0,
) -> Tensor:
    """Mean best overlap (mBO) per image: mean over scored objects of the IoU with the predicted
    segment that overlaps it best. Shapes as :func:`object_slot_iou`; returns ``[B]`` float64."""
    table = object_slot_iou(true_masks, pred_masks, visibility)
    return mean_over_scored(table.iou.max(dim=2).values, table.scored.to(torch.float64), empty_value)


def match_from_iou(table: ObjectSlotIoU) -> Matching:
    """Hungarian matching of scored objects to slots from an IoU table (see :class:`Matching`)."""
    iou = table.iou.detach().cpu().numpy()
    scored = table.scored.detach().cpu().numpy()
    b, m, _ = iou.shape
    slots = np.full((b, m), -1, dtype=np.int64)
    ious = np.zeros((b, m), dtype=np.float64)
    for i in range(b):
        objects = np.flatnonzero(scored[i])
        if objects.size == 0:
            continue
        rows, cols = linear_sum_assignment(1.0 - iou[i, objects])
        slots[i, objects[rows]] = cols
        ious[i, objects[rows]] = iou[i, objects[rows], cols]
    device = table.iou.device
    return Matching(slots=torch.from_numpy(slots).to(device), ious=torch.from_numpy(ious).to(device))


def coverage_of_matching(table: ObjectSlotIoU, matching: Matching) -> Tensor:
    """``[B, M]`` float64: fraction of each object's pixels in its matched slot's segment (0 where
    the object has no slot)."""
    slots = matching.slots.clamp(min=0).unsqueeze(2)
    covered = table.coverage.gather(2, slots).squeeze(2)
    return torch.where(matching.slots >= 0, covered, torch.zeros_like(covered))


def hungarian_match(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    num_objects: int | None = None,
) -> Matching:
    """Match slots one-to-one to the visible foreground objects, maximising the total IoU.

    Args:
        true_masks: label map ``[B, H, W]`` (0 = background, 1..M) or per-entity masks
            ``[B, M+1, (1,) H, W]`` with entity 0 the background.
        pred_masks: soft masks ``[B, K, (1,) H, W]`` (argmax over K) or a label map ``[B, H, W]``.
        visibility: optional ``[B, M]`` bool (the dataset's flags); also fixes M for label maps.
        num_objects: M for label maps when ``visibility`` is not given (default: largest label).

    Returns:
        :class:`Matching` ``(slots [B, M] int64, -1 = unmatched; ious [B, M] float64)``;
        ``Matching.pairs()`` lists the matched ``(image, object, slot)`` rows.
    """
    return match_from_iou(object_slot_iou(true_masks, pred_masks, visibility, num_objects))


def matched_iou(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    empty_value: float = 0.0,
) -> Tensor:
    """Mean IoU per image over scored objects after Hungarian matching (unmatched objects count
    0). Shapes as :func:`hungarian_match`; returns ``[B]`` float64."""
    table = object_slot_iou(true_masks, pred_masks, visibility)
    matching = match_from_iou(table)
    return mean_over_scored(matching.ious, table.scored.to(torch.float64), empty_value)


def matched_coverage(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    empty_value: float = 0.0,
) -> Tensor:
    """Mean over scored objects of the fraction of the object's pixels that its Hungarian-matched
    slot holds (the matching of :func:`matched_iou`; unmatched objects count 0). Shapes as
    :func:`hungarian_match`; returns ``[B]`` float64."""
    table = object_slot_iou(true_masks, pred_masks, visibility)
    matching = match_from_iou(table)
    return mean_over_scored(coverage_of_matching(table, matching), table.scored.to(torch.float64), empty_value)
