"""Files of ``emorl-eval dci``: dci.csv, dci_summary.csv, dci.md, importance.csv, heatmap PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emorl_eval.dci.pipeline import SCORE_COLUMNS, DCIResult
from emorl_eval.dci.scores import NUM_BINS

#: the Table 3 columns (paper: "DCI on CLEVR6, mean ± std dev across 5 runs")
TABLE3: dict[str, str] = {
    "disentanglement": "Disentanglement",
    "completeness": "Completeness",
    "informativeness_test": "Informativeness",
    "mean_matched_iou": "matched IoU",
    "num_pairs": "pairs",
    "num_active_dims": "active dims",
}


def _mean_std(mean: float, std: float, n: int, decimals: int = 2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    text = f"{mean:.{decimals}f}"
    if n > 1:
        text += f" ± {std:.{decimals}f}"
    return text


def _md_table(df: pd.DataFrame) -> str:
    from emorl_eval.reports.tables import to_markdown

    return to_markdown(df)


def protocol_note(protocol: str) -> str:
    """One paragraph saying what the informativeness numbers mean under ``protocol``."""
    if protocol == "dlib":
        cont = (f"continuous factors discretised into {NUM_BINS} equal-width bins by disentanglement-lib's "
                "histogram discretiser and classified (informativeness = accuracy over the bins)")
    else:
        cont = ("continuous factors regressed with GradientBoostingRegressor (informativeness = R^2; the "
                "reference code's accuracy of a regressor is not used)")
    return (f"Protocol `{protocol}`: one scikit-learn gradient-boosted-tree predictor per factor on a seeded "
            f"50/50 split of the matched (object, slot) pairs; discrete factors classified (accuracy); {cont}. "
            "Disentanglement and completeness by disentanglement-lib's own functions on the importance matrix.")


def markdown(result: DCIResult) -> str:
    """dci.md: a Table 3 style mean ± std table, per-factor informativeness and the runs."""
    runs, summary = result.runs, result.summary
    first = runs.iloc[0]
    lines = [f"# DCI on IoU-Hungarian-matched slots: {first['dataset']} ({first['split']})", ""]
    lines += [protocol_note(str(first["protocol"])), ""]
    if bool(first["active_only"]):
        lines += ["Codes restricted to the active dimensions (variance of the matched codes > threshold).", ""]
    table = []
    for r in summary.to_dict("records"):
        label = str(r["model"]) + (f" ({r['preset']})" if isinstance(r.get("preset"), str) and r["preset"] else "")
        row = {"model": label}
        for col, name in TABLE3.items():
            decimals = 0 if col.startswith("num_") else (3 if col == "mean_matched_iou" else 2)
            row[name] = _mean_std(r[f"{col}_mean"], r[f"{col}_std"], r["n_runs"], decimals)
        row["runs"] = r["n_runs"]
        table.append(row)
    lines += ["## Mean ± std over runs (checkpoints x seeds)", "", _md_table(pd.DataFrame(table))]
    factor_cols = [c for c in summary.columns if c.startswith("informativeness_test_") and c.endswith("_mean")
                   and c != "informativeness_test_mean"]
    if factor_cols:
        per = []
        for r in summary.to_dict("records"):
            row = {"model": str(r["model"])}
            for c in factor_cols:
                base = c[: -len("_mean")]
                row[base[len("informativeness_test_"):]] = _mean_std(r[c], r[base + "_std"], r["n_runs"])
            per.append(row)
        lines += ["## Informativeness (test) per factor", "", _md_table(pd.DataFrame(per))]
    cols = ["checkpoint", "seed"] + list(SCORE_COLUMNS)
    shown = runs[cols].copy()
    for c in ("disentanglement", "completeness", "informativeness_test", "informativeness_train", "mean_matched_iou"):
        shown[c] = shown[c].map(lambda v: f"{v:.3f}")
    shown.columns = ["checkpoint", "seed"] + list(SCORE_COLUMNS.values())
    lines += ["## Runs", "", _md_table(shown)]
    return "\n".join(lines)


def _shown_rows(sub: pd.DataFrame) -> pd.DataFrame:
    """The code dims a heatmap panel shows: the active ones, or all when none is active."""
    return sub[sub["active"]] if sub["active"].any() else sub


def heatmap_ylabel(any_active: bool) -> str:
    """The y label of a panel, saying which code dims it shows (matching its title)."""
    return "code dim (active)" if any_active else "code dim (all; none active)"


def heatmap(result: DCIResult, path: str | Path) -> Path:
    """Importance matrices (codes x factors, active dims only; all dims when none is active),
    one panel per run, as a seaborn heatmap PNG."""
    import seaborn as sns

    from emorl_eval.figure_files import pyplot, save_figure

    plt = pyplot()
    imp = result.importance
    factors = [c for c in imp.columns if c not in ("checkpoint", "seed", "code_dim", "variance", "active", "fitted")]
    groups = list(imp.groupby(["checkpoint", "seed"], sort=False))
    ncols = min(len(groups), 4)
    nrows = int(math.ceil(len(groups) / ncols))
    shown_rows = [_shown_rows(sub) for _, sub in groups]
    # every code row keeps its own label: ~0.25 in per row, so 32 dims no longer overlap
    panel_w, panel_h = 2.2 + 0.55 * len(factors), 1.8 + 0.25 * max(len(rows) for rows in shown_rows)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(panel_w * ncols, panel_h * nrows + 0.4))
    vmax = float(np.nanmax(imp[factors].to_numpy())) if len(imp) else 1.0
    for ax, ((ckpt, seed), sub), shown in zip(axes.flat, groups, shown_rows):
        mat = shown.set_index("code_dim")[factors]
        sns.heatmap(mat, ax=ax, cmap="viridis", vmin=0.0, vmax=max(vmax, 1e-12), cbar=True,
                    cbar_kws={"label": "importance (share of the factor's GBT, 0-1)"}, yticklabels=True,
                    annot=len(factors) * len(mat) <= 200, fmt=".2f", annot_kws={"fontsize": 8})
        run = Path(str(ckpt))
        any_active = bool(sub["active"].any())
        note = "" if any_active else " (no active dim: all shown)"
        ax.set_title(f"{run.parent.name}/{run.name}\nseed {seed}{note}", fontsize=8)
        ax.tick_params(axis="x", labelrotation=45)
        ax.tick_params(axis="y", labelsize=8, labelrotation=0)
        ax.set_xlabel("factor")
        ax.set_ylabel(heatmap_ylabel(any_active))
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle("DCI importance (|feature importance| of each factor's GBT)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def write_dci(result: DCIResult, out: str | Path, figure: str | Path) -> dict[str, Path]:
    """Write ``dci.csv`` (runs), ``dci_summary.csv``, ``dci.md``, ``importance.csv`` into ``out``
    (atomically) and the heatmap to ``figure``. Returns the paths by kind."""
    from emorl_eval.evaluate import _write_text_atomic, prepare_out_dir

    out = prepare_out_dir(out)
    paths: dict[str, Any] = {
        "runs": out / "dci.csv",
        "summary": out / "dci_summary.csv",
        "markdown": out / "dci.md",
        "importance": out / "importance.csv",
    }
    _write_text_atomic(paths["runs"], result.runs.to_csv(index=False, float_format="%.10g"))
    _write_text_atomic(paths["summary"], result.summary.to_csv(index=False, float_format="%.10g"))
    _write_text_atomic(paths["markdown"], markdown(result))
    _write_text_atomic(paths["importance"], result.importance.to_csv(index=False, float_format="%.10g"))
    paths["figure"] = heatmap(result, figure)
    return paths
