"""The fused mask_metrics equals the single-metric functions."""

from __future__ import annotations

import torch

from emorl_eval.metrics import (
    MASK_METRICS,
    adjusted_rand_index,
    mask_metrics,
    matched_coverage,
    matched_iou,
    mean_best_overlap,
    segmentation_covering,
)
from emorl_eval.metrics._labels import argmax_over_slots


def test_mask_metrics_equal_single_functions() -> None:
    g = torch.Generator().manual_seed(7)
    true = torch.randint(0, 5, (6, 4, 4), generator=g).repeat_interleave(3, 1).repeat_interleave(3, 2)
    soft = (torch.nn.functional.one_hot(true, 6).permute(0, 3, 1, 2).float()
            + 1.2 * torch.rand(6, 6, 12, 12, generator=g)).unsqueeze(2)
    visibility = torch.rand(6, 4, generator=g) < 0.8
    out = mask_metrics(true, soft, visibility=visibility)
    assert tuple(out) == MASK_METRICS
    assert torch.equal(out["ari_fg"], adjusted_rand_index(true, soft))
    assert torch.equal(out["ari_all"], adjusted_rand_index(true, soft, foreground_only=False))
    assert torch.equal(out["msc"], segmentation_covering(true, soft, visibility=visibility))
    assert torch.equal(out["sc"], segmentation_covering(true, soft, weighted=True, visibility=visibility))
    assert torch.equal(out["mbo"], mean_best_overlap(true, soft, visibility=visibility))
    assert torch.equal(out["matched_iou"], matched_iou(true, soft, visibility=visibility))
    assert torch.equal(out["matched_coverage"], matched_coverage(true, soft, visibility=visibility))
    assert "matched_iou" not in mask_metrics(true, soft, hungarian=False)


def test_fast_argmax_equals_torch_argmax_with_ties() -> None:
    g = torch.Generator().manual_seed(8)
    x = torch.randint(0, 3, (4, 5, 6, 6), generator=g).float()  # many ties
    assert torch.equal(argmax_over_slots(x), x.argmax(dim=1))
