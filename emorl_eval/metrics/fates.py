"""Where each ground-truth object's pixels went: a breakdown of what lowers FG-ARI.

FG-ARI says how well the slots group the foreground pixels, not why they fall short. This module
reads the same argmax segmentation and sorts each object's pixels by the slot they went to. An
object's *majority slot* holds most of its pixels; the slots that are no scored object's majority
slot are the image's *background slots*. Per object:

* ``majority_share``: the fraction of its pixels in its majority slot (1 = whole);
* ``background_share``: the fraction in background slots. Bevelled or shaded objects lose their
  dark rim this way when a model explains dark pixels with the black background's slot;
* ``other_share``: the fraction in other objects' majority slots (1 - the two above);
* ``merged``: its majority slot is also another scored object's (two objects of one colour in a
  slot that stands for a colour; every object of a collapsed model).

The definitions need no background label for slots, so they read the same for models that keep
the background in one slot (GENESIS) and for models that spread it over every slot (EfficientMORL's
Gaussian likelihood, Slot Attention): only object pixels are counted.

    >>> fates = object_fates(true_masks, out.masks, visibility)      # per object, [B, M]
    >>> fates.background_share[fates.scored].mean()

``emorl_eval.fates_table`` runs a model over a dataset and summarises (``emorl-eval fates``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from emorl_eval.metrics.segmentation import check_visibility, object_contingency


#: an object counts as split when its majority slot holds less than this share of its pixels
SPLIT_BELOW = 0.8


class ObjectFates(NamedTuple):
    """Per-object fates of one batch (objects ``j`` = label ``j + 1``; M objects, K slots).

    Attributes:
        majority_slot: ``[B, M]`` int64, the slot holding most of the object's pixels (lowest
            index on ties; -1 for an unscored object).
        majority_share: ``[B, M]`` float64, fraction of the object's pixels in that slot.
        background_share: ``[B, M]`` float64, fraction in slots that are no scored object's
            majority slot.
        other_share: ``[B, M]`` float64, fraction in other objects' majority slots.
        merged: ``[B, M]`` bool, the object shares its majority slot with another scored object.
        scored: ``[B, M]`` bool, visible (when flags are given) and non-empty.
        All float fields are 0 and ``merged`` False for unscored objects.
    """

    majority_slot: Tensor
    majority_share: Tensor
    background_share: Tensor
    other_share: Tensor
    merged: Tensor
    scored: Tensor


def fates_from_contingency(table: Tensor, visibility: Tensor | None = None) -> ObjectFates:
    """Fates from a contingency table ``[B, M+1, K]`` (row 0, the background's pixels, is not used)."""
    objects = table[:, 1:, :].to(torch.float64)  # [B, M, K]
    b, m, k = objects.shape
    check_visibility(visibility, b, m)
    sizes = objects.sum(dim=2)  # [B, M]
    scored = sizes > 0
    if visibility is not None:
        scored = scored & visibility.to(device=scored.device, dtype=torch.bool)
    best, majority = objects.max(dim=2)  # first maximum: lowest slot on ties
    share = best / sizes.clamp(min=1)
    # slots that are some scored object's majority slot: [B, K]
    one_hot = torch.nn.functional.one_hot(majority, k).to(torch.bool) & scored[:, :, None]
    object_slot = one_hot.any(dim=1)
    background = (objects * (~object_slot)[:, None, :]).sum(dim=2) / sizes.clamp(min=1)
    same = (majority[:, :, None] == majority[:, None, :]) & scored[:, :, None] & scored[:, None, :]
    merged = (same & ~torch.eye(m, dtype=torch.bool, device=same.device)).any(dim=2)
    zero = torch.zeros_like(share)
    share, background = torch.where(scored, share, zero), torch.where(scored, background, zero)
    return ObjectFates(
        majority_slot=torch.where(scored, majority, torch.full_like(majority, -1)),
        majority_share=share,
        background_share=background,
        other_share=torch.where(scored, (1.0 - share - background).clamp(min=0.0), zero),
        merged=merged,
        scored=scored,
    )


def object_fates(
    true_masks: Tensor,
    pred_masks: Tensor,
    visibility: Tensor | None = None,
    num_objects: int | None = None,
) -> ObjectFates:
    """Per-object fates of a batch (see the module docstring).

    Args:
        true_masks: label map ``[B, H, W]`` (0 = background, 1..M) or per-entity masks
            ``[B, M+1, (1,) H, W]`` with entity 0 the background.
        pred_masks: soft masks ``[B, K, (1,) H, W]`` (argmax over K) or a label map ``[B, H, W]``.
        visibility: optional ``[B, M]`` bool; objects flagged False are not scored.
        num_objects: M for label maps when ``visibility`` is not given (default: largest label).

    Returns:
        :class:`ObjectFates`, every field ``[B, M]``.
    """
    return fates_from_contingency(object_contingency(true_masks, pred_masks, visibility, num_objects), visibility)
