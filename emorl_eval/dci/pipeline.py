"""DCI of one or more checkpoints and seeds: pairs -> (active dims) -> scores -> tables.

    >>> from emorl_eval.dci.pipeline import run_dci
    >>> result = run_dci(["runs/a/checkpoint.pt"], "data/clevr6.h5", seeds=[0, 1, 2])
    >>> result.runs          # one row per (checkpoint, seed)
    >>> result.summary       # mean ± std per model (paper Table 3 style)

Per (checkpoint, seed): the seed drives the forward pass's sampling noise, the 50/50 split and
the trees. ``active_only`` restricts the codes to the active dimensions (variance of the codes
of the matched pairs > threshold, :mod:`emorl_eval.dci.activeness`) before fitting; the number
of active dimensions is reported either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from emorl_eval.dci.activeness import ACTIVE_THRESHOLD, active_dims, latent_variance
from emorl_eval.dci.pairs import MatchedPairs, extract_matched_pairs
from emorl_eval.dci.scores import dci_scores
from emorl_eval.errors import DataError

#: the scores of a run, in display order, with their labels
SCORE_COLUMNS: dict[str, str] = {
    "disentanglement": "Disentanglement",
    "completeness": "Completeness",
    "informativeness_test": "Informativeness (test)",
    "informativeness_train": "Informativeness (train)",
    "mean_matched_iou": "mean matched IoU",
    "num_pairs": "pairs",
    "num_active_dims": "active dims",
}
ID_COLUMNS: tuple[str, ...] = (
    "model", "preset", "dataset", "split", "checkpoint", "checkpoint_sha256", "checkpoint_step", "seed", "protocol",
    "active_only",
    "refinement_steps", "masks_from",
)


@dataclass
class DCIResult:
    """Everything ``emorl-eval dci`` writes.

    Attributes:
        runs: one row per (checkpoint, seed): :data:`ID_COLUMNS`, the scores, per-factor
            informativeness (``informativeness_test_<factor>``, ``informativeness_train_<factor>``),
            ``num_images``, ``num_visible_objects``, ``latent_dim``.
        importance: long table, one row per (run, code dim): ``checkpoint, seed, code_dim,
            variance, active, fitted`` then one column per factor (NaN where the dim was not fitted).
        summary: mean ± std over runs per (model, preset, dataset, protocol, active_only).
    """

    runs: pd.DataFrame
    importance: pd.DataFrame
    summary: pd.DataFrame


def score_pairs(
    pairs: MatchedPairs,
    seed: int = 0,
    protocol: str = "dlib",
    active_only: bool = False,
    threshold: float = ACTIVE_THRESHOLD,
    n_jobs: int | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """DCI of one pair set.

    Returns:
        ``(row, importance)``: the run's scores (see :class:`DCIResult`) and its importance
        table ``[D rows: code_dim, variance, active, fitted, <factors>]``.

    Raises:
        DataError: too few pairs, or ``active_only`` with no active dimension.
    """
    if len(pairs) < 4:
        raise DataError(f"only {len(pairs)} matched (object, slot) pairs in {pairs.num_images} images: "
                        "DCI needs more (more images, or a model that segments objects)")
    variance = latent_variance(pairs.codes)
    active = active_dims(pairs.codes, threshold)
    fitted = active if active_only else np.ones_like(active)
    if not fitted.any():
        raise DataError(f"no latent dimension is active (variance > {threshold}) over {len(pairs)} matched "
                        "codes: drop --active-only")
    names = [s.name for s in pairs.factor_specs]
    res = dci_scores(pairs.codes[:, fitted], pairs.factors, pairs.factor_specs, seed=seed, protocol=protocol,
                     n_jobs=n_jobs, progress=progress)
    row: dict[str, Any] = {k: res[k] for k in ("disentanglement", "completeness", "informativeness_test",
                                                "informativeness_train")}
    row.update({
        "mean_matched_iou": pairs.mean_iou,
        "num_pairs": len(pairs),
        "num_active_dims": int(active.sum()),
        "latent_dim": int(pairs.codes.shape[1]),
        "num_images": pairs.num_images,
        "num_visible_objects": pairs.num_visible,
    })
    from emorl_eval.diagnostics import dci_warnings, joined

    row["warnings"] = joined(dci_warnings(row))
    for name in names:
        row[f"informativeness_test_{name}"] = res["informativeness_test_per_factor"][name]
    for name in names:
        row[f"informativeness_train_{name}"] = res["informativeness_train_per_factor"][name]
    full = np.full((pairs.codes.shape[1], len(names)), np.nan)
    full[fitted] = res["importance"]
    importance = pd.DataFrame(full, columns=names)
    importance.insert(0, "fitted", fitted)
    importance.insert(0, "active", active)
    importance.insert(0, "variance", variance)
    importance.insert(0, "code_dim", np.arange(pairs.codes.shape[1]))
    return row, importance


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof=1; 0 for one run) of the scores over runs, per
    ``(model, preset, dataset, protocol, active_only)``: columns ``<score>_mean``, ``<score>_std``
    and ``n_runs``."""
    keys = [k for k in ("model", "preset", "dataset", "protocol", "active_only") if k in runs]
    scores = [c for c in runs.columns if c.startswith("informativeness_") or c in SCORE_COLUMNS]
    rows = []
    for group, sub in runs.groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, group if isinstance(group, tuple) else (group,)))
        for col in scores:
            values = pd.to_numeric(sub[col], errors="coerce").dropna()
            row[f"{col}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{col}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        row["n_runs"] = int(len(sub))
        rows.append(row)
    return pd.DataFrame(rows)


def run_dci(
    checkpoints: Sequence[str | Path],
    data: str | Path,
    seeds: Sequence[int] = (0,),
    num: int | None = 320,
    protocol: str = "dlib",
    active_only: bool = False,
    threshold: float = ACTIVE_THRESHOLD,
    split: str = "test",
    preset: str | None = None,
    batch_size: int = 32,
    refinement_steps: int | None = None,
    n_jobs: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    masks_from: str = "output",
    loader: Callable[..., tuple[Any, Any, dict[str, Any]]] | None = None,
) -> DCIResult:
    """DCI for every (checkpoint, seed).

    Args:
        checkpoints: checkpoint files (ours, or official EfficientMORL ones with ``preset``).
        data: the ``.h5`` dataset file (needs per-object factors).
        seeds: evaluation seeds (noise, split, trees).
        loader: ``(ckpt, data, split=, preset=, device=) -> (model, dataset, metadata)``;
            default :func:`emorl_eval.evaluate.load_inputs`.
        (others as :func:`extract_matched_pairs`, :func:`score_pairs`.)

    Returns:
        :class:`DCIResult`.
    """
    from tqdm.auto import tqdm

    if loader is None:
        from emorl_eval.evaluate import load_inputs as loader
    rows, tables = [], []
    runs = [(ckpt, seed) for ckpt in checkpoints for seed in seeds]
    bar = tqdm(total=len(runs), desc="DCI runs", unit="run", disable=not progress or len(runs) < 2)
    for ckpt in checkpoints:
        model, dataset, meta = loader(ckpt, data, split=split, preset=preset, device=device)
        for seed in seeds:
            pairs = extract_matched_pairs(model, dataset, num=num, seed=seed, batch_size=batch_size,
                                          refinement_steps=refinement_steps, device=device, progress=progress,
                                          masks_from=masks_from)
            row, importance = score_pairs(pairs, seed=seed, protocol=protocol, active_only=active_only,
                                          threshold=threshold, n_jobs=n_jobs, progress=progress)
            ident = {
                "model": getattr(model, "model_name", type(model).__name__),
                "preset": meta.get("preset"),
                "dataset": getattr(dataset, "dataset_name", None),
                "split": split,
                "checkpoint": str(ckpt),
                "checkpoint_sha256": meta.get("checkpoint_sha256"),
                "checkpoint_step": meta.get("checkpoint_step"),
                "seed": int(seed),
                "protocol": protocol,
                "active_only": bool(active_only),
                "refinement_steps": pairs.refinement_steps,
                "masks_from": masks_from,
            }
            rows.append({**ident, **row})
            importance.insert(0, "seed", int(seed))
            importance.insert(0, "checkpoint", str(ckpt))
            tables.append(importance)
            bar.update(1)
    bar.close()
    runs_df = pd.DataFrame(rows)
    return DCIResult(runs=runs_df, importance=pd.concat(tables, ignore_index=True), summary=summarize_runs(runs_df))
