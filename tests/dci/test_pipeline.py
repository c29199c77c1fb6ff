"""extract_matched_pairs / score_pairs / run_dci on an oracle whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from emorl_eval.dci import extract_matched_pairs
from emorl_eval.dci.pipeline import run_dci, score_pairs
from emorl_eval.errors import ConfigError, DataError

from .oracle import SHIFT, OracleConfig, OracleDataset, OracleModel


def test_pairs_of_the_oracle_are_exact() -> None:
    dataset = OracleDataset(n=6)
    pairs = extract_matched_pairs(OracleModel(), dataset, num=None, batch_size=4, progress=False)
    # image 0: no object; image 1: objects 1, 2 (3 invisible); images 2..5: three objects
    assert len(pairs) == 2 + 4 * 3 and pairs.num_visible == len(pairs) and pairs.num_images == 6
    np.testing.assert_array_equal(pairs.image_index[:2], [1, 1])
    np.testing.assert_array_equal(pairs.slot_index, (pairs.object_index + 1 + SHIFT) % 4)
    assert pairs.mean_iou == 1.0
    np.testing.assert_allclose(pairs.codes[:, 0], pairs.factors[:, 0], atol=1e-6)
    np.testing.assert_array_equal(pairs.codes[:, 1], 0.0)
    np.testing.assert_array_equal(pairs.factors[:, 1], pairs.object_index + 1)
    assert [s.name for s in pairs.factor_specs] == ["size", "kind"]


def test_fewer_slots_than_objects() -> None:
    pairs = extract_matched_pairs(OracleModel(OracleConfig(num_slots=2)), OracleDataset(n=4), num=None,
                                  progress=False)
    assert pairs.num_visible == 2 + 2 * 3  # image 0 empty, image 1 two visible, images 2, 3 three
    assert len(pairs) == 2 * 3  # at most K=2 pairs per image
    assert np.bincount(pairs.image_index).max() <= 2


def test_score_pairs_active_only_and_regression() -> None:
    pairs = extract_matched_pairs(OracleModel(), OracleDataset(n=30), num=None, progress=False)
    row, imp = score_pairs(pairs, seed=0, protocol="regression", active_only=True)
    assert row["num_active_dims"] == 1 and row["latent_dim"] == 2
    assert imp["active"].tolist() == [True, False] and np.isnan(imp.loc[1, "size"])
    assert imp.loc[0, "size"] == pytest.approx(1.0)  # only one fitted dim: all importance on it
    assert row["informativeness_test_size"] > 0.9  # R^2 of code = factor
    assert row["num_pairs"] == len(pairs) and row["mean_matched_iou"] == 1.0
    assert np.isnan(row["completeness"])  # one code: entropy base 1, the library's 0/0, reported as NaN
    row_all, imp_all = score_pairs(pairs, seed=0, protocol="regression")
    assert imp_all["fitted"].all() and imp_all.loc[1, ["size", "kind"]].eq(0).all()  # constant dim unused


def test_run_dci_aggregates_seeds_and_rejects_factorless_data() -> None:
    loader = lambda ckpt, data, **kw: (OracleModel(), OracleDataset(n=16), {"preset": None})  # noqa: E731
    res = run_dci(["a.pt", "b.pt"], "oracle.h5", seeds=[0, 1], num=None, protocol="regression", n_jobs=1,
                  progress=False, loader=loader)
    assert len(res.runs) == 4 and res.summary["n_runs"].tolist() == [4]
    assert set(res.importance["checkpoint"]) == {"a.pt", "b.pt"} and len(res.importance) == 4 * 2
    d = res.runs["disentanglement"]
    assert res.summary["disentanglement_mean"].iloc[0] == pytest.approx(d.mean())
    assert res.summary["disentanglement_std"].iloc[0] == pytest.approx(d.std(ddof=1))

    class NoFactors(OracleDataset):
        factor_specs: list = []

    with pytest.raises(DataError, match="no ground-truth object factors"):
        extract_matched_pairs(OracleModel(), NoFactors(n=2), progress=False)
    with pytest.raises(ConfigError, match="cannot decode"):
        extract_matched_pairs(OracleModel(), OracleDataset(n=2), progress=False, masks_from="latents")
    with pytest.raises(DataError, match="only 0 matched"):
        score_pairs(extract_matched_pairs(OracleModel(), OracleDataset(n=1), progress=False))
