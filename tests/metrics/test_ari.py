"""ARI: hand-made cases with known answers, agreement with sklearn, invariances, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from emorl_eval.errors import DataError
from emorl_eval.metrics import adjusted_rand_index


def one_hot(labels: torch.Tensor, k: int) -> torch.Tensor:
    """[B, H, W] -> [B, K, H, W] float."""
    return torch.nn.functional.one_hot(labels, k).permute(0, 3, 1, 2).float()


def sklearn_ari(true: np.ndarray, pred: np.ndarray, foreground_only: bool) -> float:
    t, p = true.ravel(), pred.ravel()
    if foreground_only:
        keep = t != 0
        t, p = t[keep], p[keep]
    return adjusted_rand_score(t, p)


# a 4x4 scene: background 0, objects 1 (left half of rows 0-1) and 2 (bottom rows)
TRUE = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0], [2, 2, 2, 2], [2, 2, 2, 2]]])


def test_perfect_split_scores_one() -> None:
    pred = TRUE.clone()
    assert adjusted_rand_index(TRUE, pred).item() == pytest.approx(1.0)
    assert adjusted_rand_index(TRUE, pred, foreground_only=False).item() == pytest.approx(1.0)


def test_relabelled_perfect_split_scores_one() -> None:
    pred = torch.tensor([[[5, 5, 3, 3], [5, 5, 3, 3], [0, 0, 0, 0], [0, 0, 0, 0]]])
    assert adjusted_rand_index(TRUE, pred).item() == pytest.approx(1.0)


def test_all_in_one_slot_with_several_objects_scores_zero() -> None:
    pred = torch.zeros_like(TRUE)
    # two true clusters on 12 fg pixels, one predicted cluster: index == expected -> 0
    assert adjusted_rand_index(TRUE, pred).item() == pytest.approx(0.0)
    assert adjusted_rand_index(TRUE, pred).item() == pytest.approx(sklearn_ari(TRUE.numpy(), pred.numpy(), True))


def test_single_cluster_both_sides_scores_one() -> None:
    true = torch.tensor([[[0, 0], [1, 1]]])
    pred = torch.tensor([[[3, 2], [1, 1]]])  # fg pixels all in slot 1
    assert adjusted_rand_index(true, pred).item() == 1.0


def test_all_singletons_both_sides_scores_one_like_sklearn() -> None:
    true = torch.tensor([[[1, 2], [3, 4]]])
    pred = torch.tensor([[[0, 1], [2, 3]]])
    assert adjusted_rand_index(true, pred).item() == 1.0 == adjusted_rand_score([1, 2, 3, 4], [0, 1, 2, 3])


def test_no_foreground_gives_empty_value_not_nan() -> None:
    true = torch.zeros(2, 3, 3, dtype=torch.long)
    pred = torch.randint(0, 3, (2, 3, 3))
    out = adjusted_rand_index(true, pred)
    assert torch.equal(out, torch.zeros(2, dtype=torch.float64))
    assert torch.equal(adjusted_rand_index(true, pred, empty_value=-1.0), torch.full((2,), -1.0, dtype=torch.float64))


def test_known_value_two_by_two() -> None:
    # true [0,0,1,1] vs pred [0,0,0,1]: ARI = (0 - 1*1/6) / (1.5 - 1/6) ... checked by hand:
    # pairs: true-same 2, pred-same 3, both-same 1, total 6 -> (1 - 2*3/6) / ((2+3)/2 - 1) = 0
    true = torch.tensor([[[1, 1, 2, 2]]])
    pred = torch.tensor([[[0, 0, 0, 1]]])
    assert adjusted_rand_index(true, pred).item() == pytest.approx(0.0, abs=1e-12)
    # true [0,0,0,1,1,1] vs pred [0,0,1,1,2,2]: sklearn gives 0.2424...
    true = torch.tensor([[[1, 1, 1, 2, 2, 2]]])
    pred = torch.tensor([[[0, 0, 1, 1, 2, 2]]])
    assert adjusted_rand_index(true, pred).item() == pytest.approx(8 / 33, abs=1e-12)


def test_soft_and_integer_predictions_agree_and_background_is_ignored() -> None:
    g = torch.Generator().manual_seed(1)
    true = torch.randint(0, 4, (3, 8, 8), generator=g)
    logits = torch.randn(3, 5, 8, 8, generator=g)
    soft = logits.softmax(dim=1)
    labels = logits.argmax(dim=1)
    a = adjusted_rand_index(true, soft)
    assert torch.equal(a, adjusted_rand_index(true, labels))
    assert torch.equal(a, adjusted_rand_index(true, soft.unsqueeze(2)))  # [B, K, 1, H, W]
    # changing predictions on background pixels leaves the fg ARI unchanged
    shuffled = labels.clone()
    shuffled[true == 0] = torch.randint(0, 5, (int((true == 0).sum()),), generator=g)
    assert torch.equal(a, adjusted_rand_index(true, shuffled))


def test_one_hot_true_masks_0_255_match_label_maps() -> None:
    g = torch.Generator().manual_seed(2)
    true = torch.randint(0, 3, (4, 6, 6), generator=g)
    pred = torch.randint(0, 4, (4, 6, 6), generator=g)
    oh = (one_hot(true, 3) * 255).to(torch.uint8).unsqueeze(2)  # [B, M+1, 1, H, W]
    for fg in (True, False):
        assert torch.equal(adjusted_rand_index(true, pred, fg), adjusted_rand_index(oh, pred, fg))


label_maps = st.integers(min_value=1, max_value=6).flatmap(
    lambda b: st.tuples(
        st.integers(1, 5),  # M + 1 true labels
        st.integers(1, 7),  # K slots
        st.integers(1, 9),  # H
        st.integers(1, 9),  # W
        st.integers(0, 2**31 - 1),
    ).map(lambda t: (b, *t))
)


@settings(max_examples=60, deadline=None)
@given(label_maps)
def test_agrees_with_sklearn_per_image(params: tuple[int, int, int, int, int, int]) -> None:
    b, m, k, h, w, seed = params
    g = torch.Generator().manual_seed(seed)
    true = torch.randint(0, m, (b, h, w), generator=g)
    soft = torch.rand(b, k, h, w, generator=g)
    pred = soft.argmax(dim=1).numpy()
    for fg in (True, False):
        ours = adjusted_rand_index(true, soft, foreground_only=fg).numpy()
        assert not np.isnan(ours).any()
        for i in range(b):
            n_scored = int((true[i] != 0).sum()) if fg else h * w
            if n_scored == 0:
                assert ours[i] == 0.0  # reference convention; sklearn would say 1.0
                continue
            assert ours[i] == pytest.approx(sklearn_ari(true[i].numpy(), pred[i], fg), abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_invariant_to_slot_and_object_permutation(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    true = torch.randint(0, 4, (3, 7, 7), generator=g)
    soft = torch.rand(3, 6, 7, 7, generator=g)
    slot_perm = torch.randperm(6, generator=g)
    obj_perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(3, generator=g)])
    a = adjusted_rand_index(true, soft)
    assert torch.allclose(a, adjusted_rand_index(true, soft[:, slot_perm]), atol=1e-12)
    assert torch.allclose(a, adjusted_rand_index(obj_perm[true], soft), atol=1e-12)


def test_realistic_size_agrees_with_sklearn() -> None:
    g = torch.Generator().manual_seed(3)
    # blocky objects so the scores are far from 0
    true = torch.randint(0, 5, (4, 12, 12), generator=g).repeat_interleave(8, 1).repeat_interleave(8, 2)
    noise = torch.rand(4, 7, 96, 96, generator=g)
    soft = torch.nn.functional.one_hot(true, 7).permute(0, 3, 1, 2).float() + 1.5 * noise
    ours = adjusted_rand_index(true, soft)
    pred = soft.argmax(1).numpy()
    for i in range(4):
        assert ours[i].item() == pytest.approx(sklearn_ari(true[i].numpy(), pred[i], True), abs=1e-6)
    assert 0.1 < ours.mean().item() < 0.99


@pytest.mark.parametrize(
    "true, pred, match",
    [
        (torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(3, 4, 4, dtype=torch.long), "disagree"),
        (torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 3, 2, 4, 4), r"\[B, K, 1, H, W\]"),
        (torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long), "label map"),
        (torch.full((1, 2, 2), -1), torch.zeros(1, 2, 2, dtype=torch.long), "negative"),
        (torch.full((1, 2, 2), 0.5), torch.zeros(1, 2, 2, dtype=torch.long), "integers"),
        (torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 3, 2, 2), float("nan")), "NaN"),
        (np.zeros((1, 2, 2)), torch.zeros(1, 2, 2, dtype=torch.long), "torch.Tensor"),
        (torch.tensor([[[[0, 1], [2, 3]]]]), torch.zeros(1, 2, 2, dtype=torch.long), "channel axis"),
    ],
)
def test_bad_inputs_raise_one_line_data_errors(true, pred, match) -> None:
    with pytest.raises(DataError, match=match) as info:
        adjusted_rand_index(true, pred)
    assert "\n" not in str(info.value)
