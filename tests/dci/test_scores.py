"""dci_scores against hand-made codes with known answers and against disentanglement-lib."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import r2_score

from emorl_eval.data.schema import FactorSpec
from emorl_eval.dci import dci_scores
from emorl_eval.dci.backend import dlib_modules
from emorl_eval.dci.scores import prepare_targets, split_indices
from emorl_eval.errors import ConfigError, DataError


def _discrete_factors(n: int, classes: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, c, n) for c in classes], 1).astype(np.float64)


def _entropy_scores(r: np.ndarray) -> tuple[float, float]:
    """D and C by Eastwood & Williams' formulas, written out independently of the library."""
    eps = 1e-11  # the library adds this before normalising
    d, f = r.shape
    p_code = (r + eps) / (r + eps).sum(1, keepdims=True)  # each code's distribution over factors
    d_code = 1 + (p_code * np.log(p_code)).sum(1) / np.log(f)
    p_fac = (r + eps) / (r + eps).sum(0, keepdims=True)  # each factor's distribution over codes
    c_fac = 1 + (p_fac * np.log(p_fac)).sum(0) / np.log(d)
    return float((d_code * r.sum(1) / r.sum()).sum()), float((c_fac * r.sum(0) / r.sum()).sum())


def test_axis_aligned_codes_score_near_one_with_a_diagonal_importance() -> None:
    factors = _discrete_factors(160, (2, 3, 4), seed=0)
    codes = factors + 0.05 * np.random.default_rng(1).normal(size=factors.shape)
    res = dci_scores(codes, factors, ["discrete"] * 3, seed=0)
    assert res["disentanglement"] > 0.95 and res["completeness"] > 0.95
    assert res["informativeness_test"] > 0.95
    imp = res["importance"]
    assert imp.shape == (3, 3)
    assert np.all(np.diag(imp) > 0.95 * imp.sum(0))  # each factor is read from its own code


def test_mixed_codes_score_lower() -> None:
    factors = _discrete_factors(100, (2, 3, 4), seed=0)
    noise = 0.05 * np.random.default_rng(1).normal(size=factors.shape)
    aligned = dci_scores(factors + noise, factors, ["discrete"] * 3, seed=0)
    mixing = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.5], [0.5, 1.0, -1.0]])
    mixed = dci_scores(factors @ mixing + noise, factors, ["discrete"] * 3, seed=0)
    assert mixed["disentanglement"] < aligned["disentanglement"] - 0.3
    assert mixed["completeness"] < aligned["completeness"] - 0.3


def test_regression_protocol_on_continuous_factors() -> None:
    rng = np.random.default_rng(0)
    factors = rng.uniform(-1, 1, size=(200, 2))
    codes = np.concatenate([factors + 0.01 * rng.normal(size=factors.shape), rng.normal(size=(200, 1))], 1)
    res = dci_scores(codes, factors, ["continuous", "continuous"], protocol="regression", seed=3)
    assert res["factor_tasks"] == ["regress", "regress"]
    assert res["disentanglement"] > 0.9 and res["completeness"] > 0.9
    # informativeness is R^2 of a regressor fitted independently on the same split
    train, test = split_indices(200, seed=3)
    model = GradientBoostingRegressor(random_state=3).fit(codes[train], factors[train, 1])
    expected = r2_score(factors[test, 1], model.predict(codes[test]))
    assert res["informativeness_test_per_factor"]["f1"] == pytest.approx(expected, abs=1e-12)
    assert expected > 0.95  # and it is a meaningful number, unlike accuracy of a regressor


def test_dc_equal_the_entropy_formulas_and_the_library_to_1e9() -> None:
    rng = np.random.default_rng(0)
    factors = np.concatenate([_discrete_factors(120, (2, 3), seed=2), rng.uniform(size=(120, 1))], 1)
    codes = factors @ rng.normal(size=(3, 5)) + 0.3 * rng.normal(size=(120, 5))
    res = dci_scores(codes, factors, ["discrete", "discrete", "continuous"], seed=0, num_bins=4)
    dci, _ = dlib_modules()
    d, c = _entropy_scores(res["importance"])
    assert res["disentanglement"] == pytest.approx(d, abs=1e-9)
    assert res["completeness"] == pytest.approx(c, abs=1e-9)
    assert res["disentanglement"] == pytest.approx(dci.disentanglement(res["importance"]), abs=1e-9)
    assert res["completeness"] == pytest.approx(dci.completeness(res["importance"]), abs=1e-9)
    assert 0.05 < d < 0.95 and 0.05 < c < 0.95  # a non-trivial matrix


def test_dlib_protocol_equals_the_librarys_own_gbt_pipeline() -> None:
    """Importance and informativeness equal disentanglement-lib's compute_importance_gbt run on
    the same split with the continuous factor binned by its histogram discretiser."""
    rng = np.random.default_rng(5)
    factors = np.concatenate([_discrete_factors(120, (3,), seed=4), rng.uniform(0, 10, size=(120, 1))], 1)
    codes = factors @ rng.normal(size=(2, 4)) + 0.5 * rng.normal(size=(120, 4))
    specs = [FactorSpec("shape", "discrete", 3), FactorSpec("x", "continuous")]
    res = dci_scores(codes, factors, specs, seed=1, num_bins=5)
    assert res["factor_names"] == ["shape", "x"]
    dci, utils = dlib_modules()
    targets = factors.copy()
    targets[:, 1] = utils._histogram_discretize(factors[None, :, 1], num_bins=5)[0]
    assert np.unique(targets[:, 1]).size == 5
    train, test = split_indices(120, seed=1)
    # The library's trees draw from the global RNG (only to break ties between equal splits);
    # seeding it with our seed before each single-factor call reproduces random_state=seed.
    columns, info_train, info_test = [], [], []
    for j in range(2):
        np.random.seed(1)
        imp_j, tr_j, te_j = dci.compute_importance_gbt(codes[train].T, targets[train, j][None],
                                                       codes[test].T, targets[test, j][None])
        columns.append(imp_j[:, 0])
        info_train.append(tr_j)
        info_test.append(te_j)
    imp = np.stack(columns, 1)
    info_train, info_test = np.mean(info_train), np.mean(info_test)
    np.testing.assert_allclose(res["importance"], imp, atol=1e-9)
    assert res["informativeness_train"] == pytest.approx(info_train, abs=1e-9)
    assert res["informativeness_test"] == pytest.approx(info_test, abs=1e-9)


def test_targets_discrete_kept_continuous_binned_or_regressed() -> None:
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 30, 200), rng.uniform(-5, 5, 200)], 1).astype(float)
    targets, tasks = prepare_targets(factors, ["discrete", "continuous"], "dlib")
    assert tasks == ["classify", "classify"]
    np.testing.assert_array_equal(targets[:, 0], factors[:, 0])  # 30 classes stay 30 classes
    assert set(np.unique(targets[:, 1])) <= set(range(1, 21))  # 20 equal-width bins
    # digitize against the histogram's left edges over the factor's range, as the library does
    lo, hi = factors[:, 1].min(), factors[:, 1].max()
    edges = np.linspace(lo, hi, 21)[:-1]
    np.testing.assert_array_equal(targets[:, 1], np.digitize(factors[:, 1], edges))
    targets, tasks = prepare_targets(factors, ["discrete", "continuous"], "regression")
    assert tasks == ["classify", "regress"]
    np.testing.assert_array_equal(targets, factors)


def test_constant_factor_gets_zero_importance() -> None:
    factors = _discrete_factors(60, (3,), seed=0)
    factors = np.concatenate([factors, np.full((60, 1), 2.0)], 1)  # a factor that never varies
    codes = np.concatenate([factors[:, :1] + 0.01, np.zeros((60, 1))], 1)
    res = dci_scores(codes, factors, ["discrete", "discrete"], seed=0)
    assert np.all(res["importance"][:, 1] == 0)
    assert res["informativeness_test_per_factor"]["f1"] == 1.0
    assert res["informativeness_test_per_factor"]["f0"] == 1.0
    np.testing.assert_allclose(res["importance"][:, 0], [1.0, 0.0])


def test_seeded_and_independent_of_n_jobs() -> None:
    factors = _discrete_factors(80, (2, 2, 3), seed=0)
    codes = factors @ np.random.default_rng(0).normal(size=(3, 3))
    a = dci_scores(codes, factors, ["discrete"] * 3, seed=7, n_jobs=1)
    b = dci_scores(codes, factors, ["discrete"] * 3, seed=7, n_jobs=2)
    c = dci_scores(codes, factors, ["discrete"] * 3, seed=8, n_jobs=1)
    np.testing.assert_array_equal(a["importance"], b["importance"])
    assert a["informativeness_test"] == b["informativeness_test"]
    assert a["num_train"] == 40 and a["num_test"] == 40
    assert not np.array_equal(a["importance"], c["importance"])  # another split


def test_split_is_seeded_disjoint_and_covers_everything() -> None:
    tr, te = split_indices(11, seed=0)
    assert len(tr) == 6 and len(te) == 5
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(11))
    np.testing.assert_array_equal(tr, split_indices(11, seed=0)[0])


def test_bad_input_fails_with_one_line_errors() -> None:
    codes, factors = np.zeros((10, 2)), np.zeros((10, 1))
    with pytest.raises(ConfigError, match="protocol"):
        dci_scores(codes, factors, ["discrete"], protocol="accuracy-of-regressor")
    with pytest.raises(DataError, match="codes"):
        dci_scores(codes[:5], factors, ["discrete"])
    with pytest.raises(DataError, match="factor_types"):
        dci_scores(codes, factors, ["discrete", "continuous"])
    with pytest.raises(DataError, match="factor_types"):
        dci_scores(codes, factors, ["categorical"])
    with pytest.raises(DataError, match="NaN"):
        dci_scores(np.full((10, 2), np.nan), factors, ["discrete"])
