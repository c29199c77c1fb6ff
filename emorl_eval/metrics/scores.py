"""All mask metrics of a batch from one argmax and one contingency table.

The evaluation runner calls :func:`mask_metrics` once per batch instead of each metric in turn:
the argmax over slots and the pixel counting dominate the cost and are shared. Each value equals
the one of the single-metric function of the same name (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor

from emorl_eval.metrics.ari import ari_from_contingency
from emorl_eval.metrics.segmentation import (
    coverage_of_matching,
    iou_from_contingency,
    match_from_iou,
    mean_over_scored,
    object_contingency,
)

#: keys of :func:`mask_metrics`, in table order
MASK_METRICS = ("ari_fg", "ari_all", "msc", "sc", "mbo", "matched_iou", "matched_coverage")


def mask_metrics(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    num_objects: int | None = None,
    hungarian: bool = True,
    empty_value: float = 0.0,
) -> dict[str, Tensor]:
    """Per-image mask metrics.

    Args:
        true_masks: label map ``[B, H, W]`` (0 = background) or per-entity masks
            ``[B, M+1, (1,) H, W]`` with entity 0 the background.
        pred_masks: soft masks ``[B, K, (1,) H, W]`` (argmax over K) or a label map ``[B, H, W]``.
        visibility: optional ``[B, M]`` bool; invisible objects are not scored by the object
            metrics (ARI scores pixels and ignores it).
        num_objects: M for label maps without ``visibility``.
        hungarian: also compute ``matched_iou`` (a small assignment per image on the CPU).
        empty_value: score of an image with nothing to score.

    Returns:
        ``{"ari_fg", "ari_all", "msc", "sc", "mbo"[, "matched_iou", "matched_coverage"]}``, each ``[B]`` float64:
        :func:`~emorl_eval.metrics.adjusted_rand_index` with and without ``foreground_only``,
        :func:`~emorl_eval.metrics.segmentation_covering` unweighted (mSC) and weighted (SC),
        :func:`~emorl_eval.metrics.mean_best_overlap`, :func:`~emorl_eval.metrics.matched_iou`,
        :func:`~emorl_eval.metrics.matched_coverage`.
    """
    table = object_contingency(true_masks, pred_masks, visibility, num_objects)  # [B, M+1, K], row 0 = background
    out = {
        "ari_fg": ari_from_contingency(table[:, 1:, :], empty_value),
        "ari_all": ari_from_contingency(table, empty_value),
    }
    ious = iou_from_contingency(table, visibility)
    best = ious.iou.max(dim=2).values
    weights = ious.scored.to(torch.float64)
    out["msc"] = mean_over_scored(best, weights, empty_value)
    out["sc"] = mean_over_scored(best, weights * ious.sizes.to(torch.float64), empty_value)
    out["mbo"] = out["msc"].clone()  # same formula for hard segmentations (see segmentation.py)
    if hungarian:
        matching = match_from_iou(ious)
        out["matched_iou"] = mean_over_scored(matching.ious, weights, empty_value)
        out["matched_coverage"] = mean_over_scored(coverage_of_matching(ious, matching), weights, empty_value)
    return out
