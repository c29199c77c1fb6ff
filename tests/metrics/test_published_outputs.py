"""Metrics on the authors' published Tetrominoes outputs (10 images, 6 inference stages).

The file holds the images, 0/255 ground-truth entity masks [N, 4, 1, H, W] (entity 0 background),
the model's masks per stage [N, 6, K=4, H, W, 1] and reconstructions per stage. Our ARI must equal
sklearn's per image at every stage; the stage means are pinned so a change of convention shows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from emorl_eval.metrics import adjusted_rand_index, matched_coverage, matched_iou, mse, segmentation_covering

# (ARI fg, ARI all, MSE) stage means over the 10 images, measured with this code
EXPECTED = [
    (0.480549, 0.037661, 0.08112319),
    (0.794442, 0.053065, 0.05448541),
    (1.0, 0.083003, 5.210e-05),
    (1.0, 0.076110, 4.923e-05),
    (1.0, 0.079139, 7.293e-05),
    (1.0, 0.078079, 4.766e-05),
]


@pytest.fixture(scope="module")
def published(shared_dir):
    path = shared_dir / "data" / "emorl_tetrominoes_published_outputs.npz"
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


@pytest.mark.parametrize("stage", range(6))
def test_ari_matches_sklearn_and_pinned_values(published, stage: int) -> None:
    true = torch.from_numpy(published["true_mask"])  # [10, 4, 1, 35, 35] uint8 0/255
    pred = torch.from_numpy(published["pred_mask"][:, stage]).permute(0, 1, 4, 2, 3)  # [10, 4, 1, H, W]
    images = torch.from_numpy(published["image"]).permute(0, 3, 1, 2)
    recon = torch.from_numpy(published["recons"][:, stage]).permute(0, 3, 1, 2)
    fg = adjusted_rand_index(true, pred)
    everything = adjusted_rand_index(true, pred, foreground_only=False)
    t = published["true_mask"][:, :, 0].argmax(1).reshape(10, -1)
    p = published["pred_mask"][:, stage, :, :, :, 0].argmax(1).reshape(10, -1)
    for i in range(10):
        keep = t[i] != 0
        assert fg[i].item() == pytest.approx(adjusted_rand_score(t[i][keep], p[i][keep]), abs=1e-6)
        assert everything[i].item() == pytest.approx(adjusted_rand_score(t[i], p[i]), abs=1e-6)
    want_fg, want_all, want_mse = EXPECTED[stage]
    assert fg.mean().item() == pytest.approx(want_fg, abs=1e-6)
    assert everything.mean().item() == pytest.approx(want_all, abs=1e-6)
    assert mse(images, recon).mean().item() == pytest.approx(want_mse, rel=1e-3)


def test_final_stage_segments_every_object(published) -> None:
    true = torch.from_numpy(published["true_mask"])
    pred = torch.from_numpy(published["pred_mask"][:, -1]).permute(0, 1, 4, 2, 3)
    assert torch.equal(adjusted_rand_index(true, pred), torch.ones(10, dtype=torch.float64))
    # each object is one slot, but those slots also take part of the black background
    assert 0.2 < segmentation_covering(true, pred).mean().item() < 0.35
    # so matched IoU is low while every object lies whole in its matched slot
    assert matched_iou(true, pred).mean().item() < 0.35
    assert matched_coverage(true, pred).mean().item() == pytest.approx(1.0)


def test_coverage_diagnostic_is_silent_on_the_official_model(published) -> None:
    """The evaluation's slot diagnostic, calibrated on the authors' final-stage outputs."""
    import pandas as pd

    from emorl_eval.diagnostics import evaluation_warnings
    from emorl_eval.metrics import mask_metrics

    true = torch.from_numpy(published["true_mask"])
    pred = torch.from_numpy(published["pred_mask"][:, -1]).permute(0, 1, 4, 2, 3)
    table = pd.DataFrame({k: v.numpy() for k, v in mask_metrics(true, pred).items()})
    assert table["matched_iou"].mean() < 0.35  # the old IoU-based warning would have fired
    assert evaluation_warnings(table) == []
