"""Adjusted Rand index between ground-truth and predicted segmentations, batched and vectorised.

Conventions (those of the reference EfficientMORL / multi-object-datasets code, and sklearn's):

* predicted soft masks are turned into a segmentation by argmax over slots;
* ``foreground_only=True`` drops the ground-truth background pixels (label 0) before scoring;
  ``foreground_only=False`` scores every pixel, background included;
* when both partitions are trivial and identical (one cluster on both sides, or every pixel its
  own cluster on both sides) the index is 0/0; it scores 1, as in the reference and sklearn;
* an image with no pixel to score (e.g. no foreground at all) scores ``empty_value`` (0, as the
  reference's NaN -> 0); no NaN ever leaves the function.

Per image the result equals ``sklearn.metrics.adjusted_rand_score(true[keep], pred[keep])``
(except on an empty selection, where sklearn says 1). It differs from the reference EfficientMORL
code only when every scored pixel is its own cluster on both sides (2+ pixels): the reference
gets 0/0 -> 0, we (and sklearn) say 1, the two partitions being identical.
"""

from __future__ import annotations

import torch
from torch import Tensor

from emorl_eval.metrics._labels import contingency, paired_labels


def ari_from_contingency(table: Tensor, empty_value: float = 0.0) -> Tensor:
    """ARI of each contingency table ``[B, M, K]`` (pixel counts) -> ``[B]`` float64."""
    n = table.to(torch.float64)
    rows = n.sum(dim=2)  # [B, M]
    cols = n.sum(dim=1)  # [B, K]
    total = rows.sum(dim=1)  # [B]
    pairs_cells = (n * (n - 1)).sum(dim=(1, 2)) / 2
    pairs_rows = (rows * (rows - 1)).sum(dim=1) / 2
    pairs_cols = (cols * (cols - 1)).sum(dim=1) / 2
    pairs_total = total * (total - 1) / 2
    expected = pairs_rows * pairs_cols / pairs_total.clamp(min=1)
    maximum = (pairs_rows + pairs_cols) / 2
    denom = maximum - expected
    # max == expected only when both partitions are trivial and equal (all pairs within one
    # cluster, or none): decided on the exact integer pair counts, never on a float difference.
    trivial = (pairs_rows == pairs_cols) & ((pairs_rows == 0) | (pairs_rows == pairs_total))
    safe = torch.where(trivial, torch.ones_like(denom), denom)
    ari = torch.where(trivial, torch.ones_like(denom), (pairs_cells - expected) / safe)
    return torch.where(total > 0, ari, torch.full_like(ari, float(empty_value)))


def adjusted_rand_index(
    true_masks: Tensor,
    pred_masks: Tensor,
    foreground_only: bool = True,
    empty_value: float = 0.0,
) -> Tensor:
    """Adjusted Rand index per image.

    Args:
        true_masks: integer label map ``[B, H, W]`` (0 = background, 1..M objects), or per-entity
            masks ``[B, M+1, H, W]`` / ``[B, M+1, 1, H, W]`` (one-hot, 0/1 or 0/255, entity 0 =
            background; reduced by argmax over entities).
        pred_masks: soft masks ``[B, K, H, W]`` / ``[B, K, 1, H, W]`` (argmax over K) or an integer
            label map ``[B, H, W]``.
        foreground_only: score only pixels whose true label is not 0 (the "ARI (fg)" of the
            papers); False scores all pixels.
        empty_value: score of an image with no pixel to score.

    Returns:
        ``[B]`` float64 on the device of ``true_masks``; never NaN.

    Raises:
        emorl_eval.errors.DataError: wrong shapes, dtypes or values.
    """
    true, m, pred, k = paired_labels(true_masks, pred_masks)
    keep = true != 0 if foreground_only else None
    return ari_from_contingency(contingency(true, m, pred, k, keep), empty_value=empty_value)
