"""Metrics over torch tensors, batched and vectorised (CPU or GPU); one value per image.

    >>> from emorl_eval.metrics import adjusted_rand_index, mse, segmentation_covering
    >>> ari_fg = adjusted_rand_index(true_masks, out.masks)            # [B]
    >>> slots, ious = hungarian_match(true_masks, out.masks, visibility)

Ground truth: label maps ``[B, H, W]`` (0 = background) or per-entity masks ``[B, M+1, (1,) H, W]``;
predictions: soft masks ``[B, K, (1,) H, W]`` (argmax over K) or label maps. Invalid input raises
:class:`emorl_eval.errors.DataError` with a one-line message.
"""

from emorl_eval.metrics.ari import adjusted_rand_index, ari_from_contingency
from emorl_eval.metrics.reconstruction import kl_per_image, mse
from emorl_eval.metrics.scores import MASK_METRICS, mask_metrics
from emorl_eval.metrics.segmentation import (
    Matching,
    ObjectSlotIoU,
    hungarian_match,
    match_from_iou,
    matched_coverage,
    matched_iou,
    mean_best_overlap,
    object_slot_iou,
    segmentation_covering,
)

__all__ = [
    "MASK_METRICS",
    "mask_metrics",
    "Matching",
    "ObjectSlotIoU",
    "adjusted_rand_index",
    "ari_from_contingency",
    "hungarian_match",
    "kl_per_image",
    "match_from_iou",
    "matched_coverage",
    "matched_iou",
    "mean_best_overlap",
    "mse",
    "object_slot_iou",
    "segmentation_covering",
]
