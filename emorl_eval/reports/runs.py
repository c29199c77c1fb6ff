"""Discover run folders and read their evaluations into one DataFrame.

A run folder (see docs/contracts.md) is ``runs/NAME/`` holding ``config.json`` and, once
evaluated, ``eval/per_image.csv`` (one row per image) and/or ``eval/summary.csv``. Every folder
below the root that holds a ``config.json`` is a run; runs without a readable evaluation are
returned separately so that tables can list them instead of silently dropping them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emorl_eval.errors import ConfigError
from emorl_eval.reports.variants import variant_of

#: canonical metric -> accepted column names after normalisation (lower case, non-alphanumerics
#: as "_"). Foreground ARI is Table 2's ARI; plain "ari" is accepted when no fg column exists.
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "ari": ("ari_fg", "fg_ari", "ari_foreground", "foreground_ari", "ari"),
    "mse": ("mse",),
    "kl": ("kl",),
}

_MODEL_KEYS = ("model", "model_name")
_PRESET_KEYS = ("variant", "preset")
_DATASET_KEYS = ("dataset", "dataset_name", "env")
_DATA_PATH_KEYS = ("data", "data_path", "dataset_path")
_SEED_KEYS = ("seed",)


@dataclass
class RunTable:
    """Evaluated runs and the runs that are missing an evaluation.

    Attributes:
        runs: one row per evaluated run: ``run, path, model, preset, dataset, seed, steps
            (the evaluated checkpoint's step), variant_diff (fields departing from the preset),
            n_images, ari, mse, kl, source, variant_key`` (:mod:`emorl_eval.reports.variants`;
            metric values are the run's mean over its test images, in
            raw units: ARI in [0, 1], MSE per pixel-channel, KL in nats per image; NaN where the
            evaluation does not report the metric).
        missing: one row per run without a usable evaluation: ``run, path, model, preset,
            dataset, seed, reason``.
    """

    runs: pd.DataFrame
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)


def normalise_name(name: str) -> str:
    """``"ARI (fg)"`` -> ``"ari_fg"``: lower case, runs of non-alphanumerics become ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def find_key(config: dict[str, Any], names: tuple[str, ...]) -> Any:
    """First value found under any of ``names``, searching the top level first, then nested
    dicts breadth-first (run configs may nest the model or data config)."""
    queue: list[dict[str, Any]] = [config]
    while queue:
        level = queue.pop(0)
        for name in names:
            if name in level and not isinstance(level[name], dict):
                return level[name]
        queue.extend(v for v in level.values() if isinstance(v, dict))
    return None


def _metric_column(columns: list[str], metric: str) -> str | None:
    """The column of ``columns`` holding ``metric`` (after normalisation, ``_mean`` stripped)."""
    normalised = {}
    for col in columns:
        key = normalise_name(col)
        key = re.sub(r"_mean$", "", key)
        normalised.setdefault(key, col)
    for alias in METRIC_ALIASES[metric]:
        if alias in normalised:
            return normalised[alias]
    return None


def _ids(df: pd.DataFrame) -> dict[str, Any]:
    """Identity columns (model, dataset, preset) holding one value throughout ``df``, and the
    evaluated checkpoint's step (``steps``)."""
    ids = {}
    for key in ("model", "dataset", "preset"):
        col = _metric_column_exact(df, key)
        if col is not None and df[col].nunique() == 1:
            ids[key] = df[col].iloc[0]
    col = _metric_column_exact(df, "checkpoint_step")
    if col is not None and df[col].nunique() == 1 and pd.notna(df[col].iloc[0]):
        ids["steps"] = int(df[col].iloc[0])
    return ids


def _from_per_image(path: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """Run means of the metrics from ``per_image.csv`` plus id columns found there."""
    df = pd.read_csv(path)
    if df.empty:
        raise ValueError(f"{path} has no rows")
    values = {"n_images": float(len(df))}
    for metric in METRIC_ALIASES:
        col = _metric_column(list(df.columns), metric)
        values[metric] = float(pd.to_numeric(df[col], errors="coerce").mean()) if col else math.nan
    return values, _ids(df)


def _metric_column_exact(df: pd.DataFrame, key: str) -> str | None:
    for col in df.columns:
        if normalise_name(col) == key:
            return col
    return None


def _from_summary(path: Path) -> tuple[dict[str, float], dict[str, Any]]:
    """Run means from ``summary.csv`` in either layout: long (a ``metric`` column and a ``mean``
    column, one row per metric) or wide (one row, a column per metric or ``<metric>_mean``),
    plus id columns found there."""
    df = pd.read_csv(path)
    if df.empty:
        raise ValueError(f"{path} has no rows")
    return _summary_values(df), _ids(df)


def _summary_values(df: pd.DataFrame) -> dict[str, float]:
    cols = {normalise_name(c): c for c in df.columns}
    values: dict[str, float] = {"n_images": math.nan}
    if "metric" in cols and "mean" in cols:
        names = [normalise_name(m) for m in df[cols["metric"]]]
        for metric in METRIC_ALIASES:
            col = _metric_column(names, metric)
            if col is None:
                values[metric] = math.nan
            else:
                row = df.iloc[names.index(col)]
                values[metric] = float(row[cols["mean"]])
        for name in ("n", "n_images", "count", "num"):
            if name in cols:
                values["n_images"] = float(df[cols[name]].iloc[0])
                break
        return values
    row = df.iloc[0]
    for metric in METRIC_ALIASES:
        col = _metric_column([c for c in df.columns if not normalise_name(c).endswith("_std")], metric)
        values[metric] = float(pd.to_numeric(row[col], errors="coerce")) if col else math.nan
    for name in ("n", "n_images", "count", "num"):
        if name in cols:
            values["n_images"] = float(row[cols[name]])
            break
    return values


def read_run(run_dir: Path) -> tuple[dict[str, Any], str | None]:
    """Read one run folder. Returns (row, reason): ``reason`` is None when the run has a usable
    evaluation, else a short explanation (the row then carries only the run's identity)."""
    config_path = run_dir / "config.json"
    try:
        config = json.loads(config_path.read_text())
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        config = {}
        config_error = f"config.json unreadable ({err})"
    else:
        config_error = None

    row: dict[str, Any] = {
        "run": run_dir.name,
        "path": str(run_dir),
        "model": find_key(config, _MODEL_KEYS),
        "preset": find_key(config, _PRESET_KEYS),
        "dataset": find_key(config, _DATASET_KEYS),
        "seed": find_key(config, _SEED_KEYS),
    }
    variant = variant_of(config)
    row["variant_key"], row["variant_diff"] = variant.key, ", ".join(variant.differences)
    row["steps"] = (config.get("train") or {}).get("steps")  # the budget; the evaluated step wins below
    data_path = find_key(config, _DATA_PATH_KEYS)

    eval_dir = run_dir / "eval"
    per_image, summary = eval_dir / "per_image.csv", eval_dir / "summary.csv"
    values: dict[str, float] | None = None
    reason = None
    try:
        ids: dict[str, Any] = {}
        if per_image.is_file():
            values, ids = _from_per_image(per_image)
            row["source"] = "per_image.csv"
        elif summary.is_file():
            values, ids = _from_summary(summary)
            row["source"] = "summary.csv"
        else:
            reason = "no eval/per_image.csv or eval/summary.csv"
        # the evaluation fills what the config lacks (the trainer's config.json names the data
        # file, not the dataset; the evaluation's csv files have the dataset's own name)
        for key, value in ids.items():
            if row.get(key) is None or key == "steps":  # the step evaluated, not the one planned
                row[key] = value
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as err:
        reason = f"evaluation unreadable: {err}"
    if row["dataset"] is None and isinstance(data_path, str) and data_path:
        row["dataset"] = Path(data_path).stem  # last resort: the data file's name
    if values is not None and all(math.isnan(values[m]) for m in METRIC_ALIASES):
        reason, values = "evaluation has no ARI, MSE or KL column", None
    if config_error and reason is None:
        reason = config_error
    if values is not None:
        row.update(values)
    return row, reason


def discover_runs(root: str | Path) -> RunTable:
    """Every run folder below ``root`` (any depth; ``root`` itself may be a run).

    Raises:
        ConfigError: ``root`` is not a directory or holds no ``config.json`` at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory of run folders")
    run_dirs = sorted({p.parent for p in root.rglob("config.json")})
    if not run_dirs:
        raise ConfigError(f"{root}: no run folders (no */config.json below it)")
    evaluated, missing = [], []
    for run_dir in run_dirs:
        row, reason = read_run(run_dir)
        if reason is None:
            evaluated.append(row)
        else:
            missing.append({**{k: row.get(k) for k in ("run", "path", "model", "preset", "dataset", "seed")},
                            "reason": reason})
    run_cols = ["run", "path", "model", "preset", "dataset", "seed", "steps", "variant_diff", "n_images", "ari",
                "mse", "kl", "source", "variant_key"]
    runs = pd.DataFrame(evaluated, columns=run_cols)
    missing_df = pd.DataFrame(missing, columns=["run", "path", "model", "preset", "dataset", "seed", "reason"])
    return RunTable(runs=runs, missing=missing_df)
