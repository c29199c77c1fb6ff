"""DCI scores (Eastwood & Williams, 2018) of codes against ground-truth factors.

Protocol (appendix E.2 of the paper): the (factors, code) pairs are split 50/50 into train and
test at random (seeded); one gradient-boosted-tree predictor per factor is fitted on the train
half; the importance matrix ``R [codes x factors]`` holds ``|feature_importances_|`` of each
factor's predictor; disentanglement and completeness are computed from ``R`` by
disentanglement-lib's own ``dci.disentanglement`` / ``dci.completeness`` (the library the paper
used); informativeness is the mean over factors of each predictor's score on the train / test
half.

Factor types come from the dataset. Discrete factors always use
``GradientBoostingClassifier`` and are scored by accuracy. Continuous factors follow one of two
protocols:

* ``"dlib"`` (default, what disentanglement-lib does with a ``GradientBoostingClassifier``): the
  factor is discretised into 20 bins by disentanglement-lib's ``utils._histogram_discretize``
  (equal-width bins over the factor's range, computed once over all pairs so that train and test
  share the bin edges), then classified; informativeness is accuracy over the bins.
* ``"regression"``: ``GradientBoostingRegressor`` on the raw value; informativeness is R^2
  (``sklearn.metrics.r2_score``). The EfficientMORL authors' copy of the library fitted
  regressors but scored them by exact-equality accuracy (``predict == y``), which is ~0 for any
  real-valued prediction; that is a bug we do not copy. With mixed factor types the mean
  informativeness averages accuracies (discrete) and R^2 values (continuous); the per-factor
  values are reported too.

The estimators are scikit-learn's defaults (100 trees, depth 3, learning rate 0.1), as in
disentanglement-lib, with ``random_state=seed`` added so that a run is reproducible (with the
default ``max_features=None`` the seed only breaks ties between equally good splits). A factor
that is constant on the train half gets a zero importance column and a constant prediction.
The per-factor fits are independent and run in parallel with joblib threads (``n_jobs``),
longest first; the results do not depend on ``n_jobs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.metrics import r2_score
from tqdm.auto import tqdm

from emorl_eval.data.schema import FactorSpec
from emorl_eval.dci.backend import dlib_modules
from emorl_eval.errors import ConfigError, DataError

Protocol = Literal["dlib", "regression"]
PROTOCOLS: tuple[str, ...] = ("dlib", "regression")
NUM_BINS = 20  # disentanglement-lib's histogram discretiser default (its gin configs use 20)


def _factor_kinds(factor_types: Sequence[str | FactorSpec], num_factors: int) -> list[str]:
    kinds = [t.kind if isinstance(t, FactorSpec) else str(t) for t in factor_types]
    if len(kinds) != num_factors:
        raise DataError(f"factor_types: got {len(kinds)} types for {num_factors} factors")
    bad = [k for k in kinds if k not in ("continuous", "discrete")]
    if bad:
        raise DataError(f"factor_types: {bad[0]!r} is neither 'continuous' nor 'discrete'")
    return kinds


def split_indices(n: int, seed: int, train_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random train/test split of ``n`` items (train gets ``ceil(n * fraction)``, as in
    disentanglement-lib's ``split_train_test``). Returns sorted index arrays."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(math.ceil(n * train_fraction))
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def prepare_targets(
    factors: np.ndarray, kinds: Sequence[str], protocol: str, num_bins: int = NUM_BINS
) -> tuple[np.ndarray, list[str]]:
    """Turn factor values into per-factor targets.

    Args:
        factors: ``[N, F]`` factor values (discrete factors hold integer codes).
        kinds: ``F`` kinds, ``"continuous"`` / ``"discrete"``.
        protocol: ``"dlib"`` or ``"regression"``.
        num_bins: bins of the ``dlib`` protocol's discretiser.

    Returns:
        ``targets [N, F]`` float64 (class labels as whole numbers for classified factors) and the
        ``F`` task types, ``"classify"`` or ``"regress"``.
    """
    targets = np.asarray(factors, dtype=np.float64).copy()
    tasks = []
    for j, kind in enumerate(kinds):
        if kind == "discrete":
            tasks.append("classify")
        elif protocol == "dlib":
            _, utils = dlib_modules()
            # disentanglement-lib's own binning: rows are variables, columns are samples
            targets[:, j] = utils._histogram_discretize(targets[None, :, j], num_bins=num_bins)[0]
            tasks.append("classify")
        else:
            tasks.append("regress")
    return targets, tasks


def _fit_one(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, task: str, seed: int
) -> tuple[np.ndarray, float, float]:
    """Fit one factor's GBT; returns (importance [D], train score, test score)."""
    def score(y: np.ndarray, pred: np.ndarray) -> float:
        if task == "classify":
            return float(np.mean(pred == y))
        return float(r2_score(y, pred))

    if np.unique(y_train).size < 2:  # nothing to learn; sklearn's classifier refuses one class
        const = y_train[0]
        return (np.zeros(x_train.shape[1]), score(y_train, np.full_like(y_train, const)),
                score(y_test, np.full_like(y_test, const)))
    if task == "classify":
        model = GradientBoostingClassifier(random_state=seed)
    else:
        model = GradientBoostingRegressor(random_state=seed)
    model.fit(x_train, y_train)
    return (np.abs(model.feature_importances_), score(y_train, model.predict(x_train)),
            score(y_test, model.predict(x_test)))


def importance_gbt(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    tasks: Sequence[str],
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One GBT per factor, fitted in parallel.

    Args:
        x_train, x_test: codes ``[N_train, D]``, ``[N_test, D]``.
        y_train, y_test: targets ``[N_train, F]``, ``[N_test, F]``.
        tasks: ``F`` of ``"classify"`` / ``"regress"``.
        n_jobs: joblib workers (None = 1 unless inside a joblib ``parallel_backend``; -1 = all cores).

    Returns:
        ``importance [D, F]``, ``train_scores [F]``, ``test_scores [F]``.
    """
    num_factors = y_train.shape[1]
    # Longest job first (a k-class classifier grows k trees per stage, others one) keeps both
    # workers busy to the end; threads, because sklearn builds trees without the GIL and a
    # process pool would pay its start-up and copies on every call.
    cost = [np.unique(y_train[:, j]).size if tasks[j] == "classify" else 1 for j in range(num_factors)]
    order = sorted(range(num_factors), key=lambda j: -cost[j])
    jobs = (
        delayed(_fit_one)(x_train, y_train[:, j], x_test, y_test[:, j], tasks[j], seed)
        for j in order
    )
    results_gen = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(jobs)
    done = list(tqdm(results_gen, total=num_factors, desc="DCI trees (factors)", disable=not progress,
                     leave=False))
    results = [None] * num_factors
    for j, r in zip(order, done):
        results[j] = r
    importance = np.stack([r[0] for r in results], axis=1).astype(np.float64)
    return importance, np.array([r[1] for r in results]), np.array([r[2] for r in results])


def dci_scores(
    codes: np.ndarray,
    factors: np.ndarray,
    factor_types: Sequence[str | FactorSpec],
    seed: int = 0,
    protocol: Protocol = "dlib",
    n_jobs: int | None = None,
    factor_names: Sequence[str] | None = None,
    train_fraction: float = 0.5,
    num_bins: int = NUM_BINS,
    progress: bool = False,
) -> dict[str, Any]:
    """DCI of ``codes`` with respect to ``factors`` (see the module docstring for the protocol).

    Args:
        codes: ``[N, D]`` one code per (matched) object.
        factors: ``[N, F]`` the object's ground-truth factors.
        factor_types: ``F`` entries, ``"continuous"`` / ``"discrete"`` or :class:`FactorSpec`.
        seed: seeds the train/test split and the trees.
        protocol: ``"dlib"`` or ``"regression"`` (continuous factors only; see module docstring).
        n_jobs: joblib workers for the per-factor fits.
        factor_names: ``F`` names (default: the specs' names, else ``f0..``).
        train_fraction: share of pairs in the train half (the paper: 0.5).
        num_bins: bins for continuous factors under the ``dlib`` protocol (default 20).
        progress: show a tqdm bar over the factors.

    Returns:
        A dict with ``disentanglement``, ``completeness``, ``informativeness_train``,
        ``informativeness_test`` (floats), ``informativeness_train_per_factor`` and
        ``informativeness_test_per_factor`` (``{name: float}``), ``importance`` (``[D, F]``
        float64), ``disentanglement_per_code [D]``, ``completeness_per_factor [F]``,
        ``factor_names``, ``factor_tasks``, ``protocol``, ``seed``, ``num_train``, ``num_test``.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors, dtype=np.float64)
    if codes.ndim != 2 or factors.ndim != 2 or codes.shape[0] != factors.shape[0]:
        raise DataError(f"dci: codes {codes.shape} and factors {factors.shape} must be [N, D] and [N, F]")
    if codes.shape[0] < 4:
        raise DataError(f"dci: {codes.shape[0]} (object, slot) pairs are too few to split and fit")
    if not (np.isfinite(codes).all() and np.isfinite(factors).all()):
        raise DataError("dci: codes or factors contain NaN or inf")
    kinds = _factor_kinds(factor_types, factors.shape[1])
    if factor_names is None:
        factor_names = [t.name if isinstance(t, FactorSpec) else f"f{j}" for j, t in enumerate(factor_types)]
    names = list(factor_names)

    dci, _ = dlib_modules()
    targets, tasks = prepare_targets(factors, kinds, protocol, num_bins)
    train, test = split_indices(codes.shape[0], seed, train_fraction)
    importance, train_scores, test_scores = importance_gbt(
        codes[train], targets[train], codes[test], targets[test], tasks, seed=seed, n_jobs=n_jobs,
        progress=progress,
    )
    # With a single code (or factor) the entropy base is 1: the library's formula is 0/0 and
    # gives NaN, which we report as is (a one-dimensional code has no D/C to speak of).
    with np.errstate(divide="ignore", invalid="ignore"):
        d_score, c_score = float(dci.disentanglement(importance)), float(dci.completeness(importance))
        d_code = np.asarray(dci.disentanglement_per_code(importance))
        c_factor = np.asarray(dci.completeness_per_factor(importance))
    return {
        "disentanglement": d_score,
        "completeness": c_score,
        "informativeness_train": float(np.mean(train_scores)),
        "informativeness_test": float(np.mean(test_scores)),
        "informativeness_train_per_factor": dict(zip(names, map(float, train_scores))),
        "informativeness_test_per_factor": dict(zip(names, map(float, test_scores))),
        "importance": importance,
        "disentanglement_per_code": d_code,
        "completeness_per_factor": c_factor,
        "factor_names": names,
        "factor_tasks": tasks,
        "protocol": protocol,
        "seed": seed,
        "num_train": int(train.size),
        "num_test": int(test.size),
    }
