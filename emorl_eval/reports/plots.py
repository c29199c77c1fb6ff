"""Seaborn plots of tables: the ablation strip/box plot and the timing plot (Figure 22)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd

from emorl_eval.figure_files import pyplot, save_figure
from emorl_eval.reports.runs import RunTable
from emorl_eval.reports.tables import DISPLAY, split_preset, variant_label


def ablation_plot(table: RunTable, path: str | Path, metrics: tuple[str, ...] = ("ari", "mse", "kl")) -> Path | None:
    """One panel per metric: a box per (Env, variant) with each run (seed) as a point, in the
    display units of Table 2. Returns the PNG path, or None when no run has any metric value."""
    import seaborn as sns

    runs = table.runs
    metrics = tuple(m for m in metrics if m in runs and pd.to_numeric(runs[m], errors="coerce").notna().any())
    if runs.empty or not metrics:
        return None
    runs = runs.copy()
    runs["group"] = [
        f"{r.dataset}\n{variant_label(r.model, split_preset(r.model, r.preset, r.dataset)[1])}"
        for r in runs.itertuples()
    ]
    order = sorted(runs["group"].unique())
    plt = pyplot()
    width = max(4.0, 0.9 * len(order) + 1.5)
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        header, factor, _ = DISPLAY[metric]
        data = runs.assign(value=pd.to_numeric(runs[metric], errors="coerce") * factor).dropna(subset=["value"])
        with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert`
            warnings.simplefilter("ignore", DeprecationWarning)
            sns.boxplot(data=data, x="group", y="value", order=order, ax=ax, color="0.9", showfliers=False)
        sns.stripplot(data=data, x="group", y="value", order=order, ax=ax, color="C0", size=5, jitter=0.15)
        ax.set_xlabel("dataset / variant (points: seeds)")
        ax.set_ylabel(header + {"ari": " (x100)", "kl": " (nats per image)"}.get(metric, ""))
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def timing_plot(timings: pd.DataFrame, path: str | Path) -> Path | None:
    """Figure 22: forward+backward milliseconds per step against image size, one line per model
    (log y axis). Rows without a time are skipped. Returns the path or None if nothing timed."""
    import seaborn as sns

    data = timings.dropna(subset=["ms_per_step"]) if len(timings) else timings
    if data is None or data.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    sns.lineplot(data=data, x="image_size", y="ms_per_step", hue="model", marker="o", ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("image size (pixels per side)")
    batch = data["batch_size"].iloc[0]
    device = data["device"].iloc[0]
    ax.set_ylabel(f"forward + backward (ms / step, batch {batch})")
    ax.set_title(f"Forward and backward pass time ({device})")
    ax.set_xticks(sorted(data["image_size"].unique()))
    if not math.isnan(float(data["ms_per_step"].max())):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
