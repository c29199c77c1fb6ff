"""mSC / SC / mBO / Hungarian matching against brute-force computations and hand-made cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emorl_eval.errors import DataError
from emorl_eval.metrics import (
    hungarian_match,
    matched_coverage,
    matched_iou,
    mean_best_overlap,
    object_slot_iou,
    segmentation_covering,
)


def brute_iou(true: np.ndarray, pred: np.ndarray, obj_label: int, slot: int) -> float:
    a, b = true == obj_label, pred == slot
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


def brute_scores(true: np.ndarray, pred: np.ndarray, m: int, k: int, visible: np.ndarray):
    """Per image: (mSC, SC, best matched total IoU, number of scored objects) by enumeration."""
    objects = [j for j in range(m) if visible[j] and (true == j + 1).any()]
    if not objects:
        return 0.0, 0.0, 0.0, 0
    iou = np.array([[brute_iou(true, pred, j + 1, s) for s in range(k)] for j in objects])
    best = iou.max(axis=1)
    sizes = np.array([(true == j + 1).sum() for j in objects])
    # best one-to-one assignment over all injective partial maps objects -> slots
    best_total = 0.0
    n = min(len(objects), k)
    for rows in itertools.combinations(range(len(objects)), n):
        for cols in itertools.permutations(range(k), n):
            best_total = max(best_total, sum(iou[r, c] for r, c in zip(rows, cols)))
    return best.mean(), (best * sizes).sum() / sizes.sum(), best_total, len(objects)


cases = st.tuples(
    st.integers(1, 3),  # B
    st.integers(1, 4),  # M objects
    st.integers(1, 5),  # K slots
    st.integers(1, 6),  # H
    st.integers(1, 6),  # W
    st.integers(0, 2**31 - 1),
)


@settings(max_examples=50, deadline=None)
@given(cases)
def test_against_brute_force(params: tuple[int, int, int, int, int, int]) -> None:
    b, m, k, h, w, seed = params
    g = torch.Generator().manual_seed(seed)
    true = torch.randint(0, m + 1, (b, h, w), generator=g)
    soft = torch.rand(b, k, h, w, generator=g)
    visibility = torch.rand(b, m, generator=g) < 0.8
    pred = soft.argmax(1).numpy()
    msc = segmentation_covering(true, soft, visibility=visibility)
    sc = segmentation_covering(true, soft, weighted=True, visibility=visibility)
    mbo = mean_best_overlap(true, soft, visibility=visibility)
    miou = matched_iou(true, soft, visibility=visibility)
    mcov = matched_coverage(true, soft, visibility=visibility)
    slots, ious = hungarian_match(true, soft, visibility=visibility)
    assert slots.shape == ious.shape == (b, m)
    for i in range(b):
        want_msc, want_sc, want_total, n_obj = brute_scores(true[i].numpy(), pred[i], m, k, visibility[i].numpy())
        assert msc[i].item() == pytest.approx(want_msc, abs=1e-12)
        assert mbo[i].item() == pytest.approx(want_msc, abs=1e-12)
        assert sc[i].item() == pytest.approx(want_sc, abs=1e-12)
        assert ious[i].sum().item() == pytest.approx(want_total, abs=1e-9)
        assert miou[i].item() == pytest.approx(want_total / n_obj if n_obj else 0.0, abs=1e-9)
        matched = slots[i][slots[i] >= 0]
        assert len(set(matched.tolist())) == len(matched) == min(n_obj, k)  # one-to-one
        # coverage of the same matching, counted pixel by pixel
        t = true[i].numpy()
        covered = [np.sum((t == j + 1) & (pred[i] == int(slots[i, j]))) / np.sum(t == j + 1)
                   for j in range(m) if int(slots[i, j]) >= 0]
        assert mcov[i].item() == pytest.approx(sum(covered) / n_obj if n_obj else 0.0, abs=1e-9)
        for j in range(m):
            s = int(slots[i, j])
            scored = bool(visibility[i, j]) and bool((true[i] == j + 1).any())
            if s >= 0:
                assert scored
                assert ious[i, j].item() == pytest.approx(brute_iou(true[i].numpy(), pred[i], j + 1, s))
            else:
                assert ious[i, j].item() == 0.0


def test_hand_made_scene() -> None:
    # object 1: 4 px top-left; object 2: the bottom row (4 px); background elsewhere
    true = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [2, 2, 2, 2]]])
    # slot 2 covers object 1 exactly, slot 0 covers the bottom row plus the row above it
    pred = torch.tensor([[[2, 2, 1, 1], [2, 2, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]])
    assert segmentation_covering(true, pred).item() == pytest.approx((1.0 + 0.5) / 2)
    assert segmentation_covering(true, pred, weighted=True).item() == pytest.approx((4 * 1.0 + 4 * 0.5) / 8)
    slots, ious = hungarian_match(true, pred)
    assert slots.tolist() == [[2, 0]]
    assert ious.tolist() == [[1.0, 0.5]]
    assert hungarian_match(true, pred).pairs().tolist() == [[0, 0, 2], [0, 1, 0]]
    # both objects lie whole in their matched slot: coverage 1 although the second IoU is 0.5
    assert matched_coverage(true, pred).item() == pytest.approx(1.0)


def test_coverage_ignores_background_but_not_split_or_merged_objects() -> None:
    true = torch.tensor([[[1, 1, 0, 0], [2, 2, 0, 0]]])
    # each object whole in its own slot, each slot also holding two background pixels
    spread = torch.tensor([[[0, 0, 0, 0], [1, 1, 1, 1]]])
    assert matched_iou(true, spread).item() == pytest.approx(0.5)
    assert matched_coverage(true, spread).item() == pytest.approx(1.0)
    # both objects in one slot (merged): one object gets it, the other a background slot
    merged = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]]])
    assert matched_coverage(true, merged).item() == pytest.approx(0.5)
    # each object split in halves across two slots
    split = torch.tensor([[[0, 1, 2, 2], [0, 1, 2, 2]]])
    assert matched_coverage(true, split).item() == pytest.approx(0.5)


def test_more_objects_than_slots_leaves_objects_unmatched() -> None:
    true = torch.tensor([[[1, 2, 3]]])
    pred = torch.tensor([[[0, 0, 1]]])
    out = object_slot_iou(true, torch.nn.functional.one_hot(pred, 2).permute(0, 3, 1, 2).float())
    assert out.iou.shape == (1, 3, 2)
    # slot 1 == object 3 exactly (IoU 1); slot 0 covers objects 1, 2 (IoU 0.5 each): 2 matches
    slots, ious = hungarian_match(true, pred, num_objects=3)
    assert sorted(slots[0].tolist()) == [-1, 0, 1]
    assert ious[0, 2].item() == 1.0
    assert matched_iou(true, pred).item() == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_invisible_and_absent_objects_are_not_scored() -> None:
    true = torch.tensor([[[1, 1], [0, 0]]])
    pred = torch.tensor([[[0, 0], [1, 1]]])
    visibility = torch.tensor([[True, True, False]])  # object 2 absent, object 3 flagged invisible
    slots, _ = hungarian_match(true, pred, visibility=visibility)
    assert slots.tolist() == [[0, -1, -1]]
    no_objects = torch.zeros(1, 2, 2, dtype=torch.long)
    assert segmentation_covering(no_objects, pred).item() == 0.0
    assert matched_iou(no_objects, pred, empty_value=-1.0).item() == -1.0


def test_one_hot_ground_truth_and_slot_permutation() -> None:
    g = torch.Generator().manual_seed(5)
    true = torch.randint(0, 4, (2, 8, 8), generator=g)
    oh = torch.nn.functional.one_hot(true, 4).permute(0, 3, 1, 2).unsqueeze(2).to(torch.uint8) * 255
    soft = torch.rand(2, 5, 1, 8, 8, generator=g)
    perm = torch.tensor([3, 0, 4, 1, 2])
    a = hungarian_match(true, soft, num_objects=3)
    b = hungarian_match(oh, soft[:, perm])
    assert torch.equal(perm[b.slots.clamp(min=0)] * (b.slots >= 0) - (b.slots < 0).long(), a.slots)
    assert torch.allclose(a.ious, b.ious)
    assert torch.allclose(segmentation_covering(true, soft), segmentation_covering(oh, soft[:, perm]))


def test_bad_inputs() -> None:
    true = torch.tensor([[[1, 2], [0, 0]]])
    pred = torch.zeros(1, 3, 2, 2)
    with pytest.raises(DataError, match=r"M=1 \(visibility"):
        hungarian_match(true, pred, visibility=torch.ones(1, 1, dtype=torch.bool))
    with pytest.raises(DataError, match=r"visibility: expected \[B, M\] = \[1, 2\]"):
        hungarian_match(true, pred, visibility=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(DataError, match="exceeds"):
        hungarian_match(true, pred, num_objects=1)
    with pytest.raises(DataError, match="disagree"):
        segmentation_covering(true, torch.zeros(1, 3, 3, 2))
