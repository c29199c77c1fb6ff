"""Object fates (split / lost to the background slot / merged) against hand-made cases and a
brute-force computation with numpy loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emorl_eval.errors import DataError
from emorl_eval.fates_table import fates_rows, summarize_objects
from emorl_eval.metrics.fates import SPLIT_BELOW, ObjectFates, object_fates


def summarize_fates(f: ObjectFates) -> dict:
    rows = fates_rows(f, np.arange(f.scored.shape[0]))
    return summarize_objects(rows, np.zeros(f.scored.shape[0]))


def brute_fates(true: np.ndarray, pred: np.ndarray, m: int, visible: np.ndarray):
    """One image: (majority slot, majority share, background share, other share, merged) per
    object, by loops."""
    majority = {}
    for j in range(m):
        pix = pred[true == j + 1]
        if visible[j] and pix.size:
            majority[j] = int(np.bincount(pix).argmax())  # lowest slot on ties
    object_slots = set(majority.values())
    rows = []
    for j in range(m):
        if j not in majority:
            rows.append((-1, 0.0, 0.0, 0.0, False))
            continue
        pix = pred[true == j + 1]
        share = float(np.mean(pix == majority[j]))
        background = float(np.mean([p not in object_slots for p in pix]))
        merged = any(majority[i] == majority[j] for i in majority if i != j)
        rows.append((majority[j], share, background, 1.0 - share - background, merged))
    return rows


def test_hand_made_split_lost_and_merged() -> None:
    # 4x4 image, background label 0, three objects; slot 0 takes the background
    true = torch.tensor([[[0, 0, 1, 1],
                          [0, 0, 1, 1],
                          [2, 2, 0, 3],
                          [0, 0, 0, 3]]])
    pred = torch.tensor([[[0, 0, 1, 0],   # object 1: 3 of 4 pixels in slot 1, 1 in the background's slot 0
                          [0, 0, 1, 1],
                          [2, 2, 0, 2],   # objects 2 and 3 share slot 2: both merged
                          [0, 0, 0, 2]]])
    f = object_fates(true, pred, num_objects=3)
    assert f.majority_slot.tolist() == [[1, 2, 2]]
    assert f.majority_share.tolist() == [[0.75, 1.0, 1.0]]
    assert f.background_share.tolist() == [[0.25, 0.0, 0.0]]
    assert f.other_share.tolist() == [[0.0, 0.0, 0.0]]
    assert f.merged.tolist() == [[False, True, True]]
    s = summarize_fates(f)
    assert s["objects"] == 3
    assert s["majority_share"] == pytest.approx(2.75 / 3)
    assert s["background_share"] == pytest.approx(0.25 / 3)
    assert s["split"] == pytest.approx(1 / 3)  # 0.75 < SPLIT_BELOW
    assert s["merged"] == pytest.approx(2 / 3)
    assert SPLIT_BELOW == 0.8


def test_pixels_in_another_objects_slot_are_other_not_background() -> None:
    true = torch.tensor([[[1, 1, 1, 1], [2, 2, 0, 0]]])
    pred = torch.tensor([[[1, 1, 1, 2], [2, 2, 3, 1]]])  # object 1 gives a pixel to object 2's slot
    f = object_fates(true, pred, num_objects=2)
    assert f.majority_share.tolist() == [[0.75, 1.0]]
    assert f.other_share.tolist() == [[0.25, 0.0]] and f.background_share.tolist() == [[0.0, 0.0]]


def test_spread_background_reads_like_one_background_slot() -> None:
    # a perfect decomposition whose background is spread over every slot (a Gaussian-likelihood
    # model) and the same with the background in a slot of its own: the same fates
    true = torch.tensor([[[1, 1, 0, 0], [0, 0, 2, 2]]])
    spread = torch.tensor([[[0, 0, 0, 1], [1, 0, 1, 1]]])
    alone = torch.tensor([[[0, 0, 2, 2], [2, 2, 1, 1]]])
    for pred in (spread, alone):
        f = object_fates(true, pred, num_objects=2)
        assert f.majority_share.tolist() == [[1.0, 1.0]]
        assert f.background_share.tolist() == [[0.0, 0.0]] and not f.merged.any()


def test_a_collapsed_model_merges_every_object() -> None:
    true = torch.tensor([[[0, 0, 1], [0, 2, 0]]])
    pred = torch.zeros_like(true)  # every pixel in slot 0
    f = object_fates(true, pred, num_objects=2)
    assert f.merged.tolist() == [[True, True]]
    assert f.majority_share.tolist() == [[1.0, 1.0]] and f.background_share.tolist() == [[0.0, 0.0]]


def test_perfect_segmentation_from_soft_masks() -> None:
    g = torch.Generator().manual_seed(0)
    true = torch.randint(0, 4, (3, 8, 8), generator=g)
    masks = torch.nn.functional.one_hot(true, 4).permute(0, 3, 1, 2).float()[:, :, None]  # [B, K, 1, H, W]
    f = object_fates(true, masks, num_objects=3)
    s = summarize_fates(f)
    assert s["majority_share"] == 1.0 and s["background_share"] == 0.0
    assert s["merged"] == 0.0 and s["split"] == 0.0


def test_invisible_objects_are_not_scored_and_empty_summary_is_nan() -> None:
    true = torch.tensor([[[0, 1], [2, 2]]])
    pred = torch.tensor([[[0, 1], [1, 1]]])
    vis = torch.tensor([[True, False]])
    f = object_fates(true, pred, visibility=vis)
    assert f.scored.tolist() == [[True, False]]
    assert f.majority_slot.tolist() == [[1, -1]]
    assert not f.merged.any()  # object 2 shares slot 1 but is not scored
    empty = summarize_fates(object_fates(true, pred, visibility=torch.tensor([[False, False]])))
    assert empty["objects"] == 0 and np.isnan(empty["majority_share"])


@pytest.mark.parametrize("seed", range(5))
def test_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b, m, k, h, w = 6, 4, 5, 7, 9
    true = rng.integers(0, m + 1, (b, h, w))
    # predictions that follow the objects loosely, so majority slots, ties and merges all occur
    pred = np.where(rng.random((b, h, w)) < 0.6, true % k, rng.integers(0, k, (b, h, w)))
    pred[0] = 2  # one image wholly in one slot
    vis = rng.random((b, m)) < 0.85
    f = object_fates(torch.from_numpy(true), torch.from_numpy(pred), visibility=torch.from_numpy(vis))
    for i in range(b):
        for j, (slot, share, background, other, merged) in enumerate(brute_fates(true[i], pred[i], m, vis[i])):
            assert int(f.majority_slot[i, j]) == slot
            assert float(f.majority_share[i, j]) == pytest.approx(share)
            assert float(f.background_share[i, j]) == pytest.approx(background)
            assert float(f.other_share[i, j]) == pytest.approx(other, abs=1e-12)
            assert bool(f.merged[i, j]) == merged


def test_bad_input_raises_data_error() -> None:
    true = torch.zeros(2, 4, 4, dtype=torch.long)
    with pytest.raises(DataError, match="disagree"):
        object_fates(true, torch.zeros(2, 5, 4, dtype=torch.long))
    with pytest.raises(DataError, match="visibility"):
        object_fates(true, true, visibility=torch.ones(3, 2, dtype=torch.bool))
