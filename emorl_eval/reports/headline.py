"""The results table at the top of ``reports/README.md``: one row per evaluated run.

Columns: run, model, preset, steps, FG-ARI, ARI, MSE, KL (from the run's ``eval/``), D, C, I (from
``reports/dci/**/dci.csv`` rows of that run's checkpoint), leakage (``reports/leakage/*.csv``),
symmetry verdict (``reports/symmetry/*.csv``) and warnings (``emorl_eval.diagnostics``), each
cell linking the file it came from. A run is matched to DCI, leakage and symmetry results by the
checkpoint path those files record: the checkpoint's run folder name (``runs/NAME/...`` or a zoo
entry ``.../zoo/NAME/checkpoint.pt``) must equal the run's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from emorl_eval.reports.runs import RunTable


def _owner(checkpoint: Any) -> str:
    """The run name of a recorded checkpoint path (its folder's name)."""
    return Path(str(checkpoint)).parent.name


def _read_sources(files: list[Path]) -> list[tuple[Path, pd.DataFrame]]:
    """The readable CSVs of ``files`` that record a ``checkpoint`` column (each read once)."""
    found = []
    for path in files:
        try:
            df = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue
        if "checkpoint" in df:
            found.append((path, df))
    return found


def _rows_of(sources: list[tuple[Path, pd.DataFrame]], run: str) -> list[tuple[Path, pd.DataFrame]]:
    """Per source file, its rows whose checkpoint belongs to ``run`` (files without any are dropped)."""
    found = []
    for path, df in sources:
        mine = df[df["checkpoint"].map(_owner) == run]
        if len(mine):
            found.append((path, mine))
    return found


def _link(text: str, target: Path, base: Path) -> str:
    return f"[{text}]({Path(os.path.relpath(target, base)).as_posix()})"


def _fmt(value: float, digits: int = 3, sci: bool = False) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:.2e}" if sci else f"{value:.{digits}f}"


def results_table(table: RunTable, reports: Path) -> pd.DataFrame:
    """One row per evaluated run of ``table`` with the columns of the module docstring (markdown
    cells with relative links from ``reports``)."""
    dci_files = _read_sources(sorted(reports.glob("dci/**/dci.csv")))
    leak_files = _read_sources(sorted(p for p in reports.glob("leakage/*.csv") if not p.name.endswith("_per_dim.csv")))
    sym_files = _read_sources(sorted(reports.glob("symmetry/*.csv")))
    rows = []
    for run in table.runs.itertuples():
        name, path = str(run.run), Path(run.path)
        eval_dir = path / "eval"
        per_image = eval_dir / "per_image.csv"
        row: dict[str, str] = {"run": name, "model": str(run.model), "preset": str(run.preset)}
        steps, ari_all, warnings = "-", float("nan"), ""
        if per_image.is_file():
            df = pd.read_csv(per_image)
            if "checkpoint_step" in df and df["checkpoint_step"].notna().any():
                steps = f"{int(df['checkpoint_step'].iloc[0]):,}"
            ari_all = float(df["ari_all"].mean()) if "ari_all" in df else ari_all
        summary = eval_dir / "summary.csv"
        if summary.is_file():
            s = pd.read_csv(summary)
            if "warnings" in s and s["warnings"].notna().any():
                warnings = str(s["warnings"].dropna().iloc[0])
        source = per_image if per_image.is_file() else summary
        row["steps"] = steps
        row["FG-ARI"] = _link(_fmt(float(run.ari)), source, reports) if source.is_file() else _fmt(float(run.ari))
        row["ARI"] = _fmt(ari_all)
        row["MSE"] = _fmt(float(run.mse), sci=True)
        row["KL"] = _fmt(float(run.kl), 2)
        dci = _rows_of(dci_files, name)
        for col, key in (("D", "disentanglement"), ("C", "completeness"), ("I", "informativeness_test")):
            row[col] = _link(_fmt(float(dci[0][1][key].mean())), dci[0][0], reports) if dci else "-"
        if dci and "warnings" in dci[0][1]:
            extra = "; ".join(str(w) for w in dci[0][1]["warnings"].dropna() if str(w))
            warnings = "; ".join(w for w in (warnings, extra) if w)
        leak = _rows_of(leak_files, name)
        row["leakage"] = _link(_fmt(float(leak[0][1]["leakage"].iloc[0])), leak[0][0], reports) if leak else "-"
        sym = _rows_of(sym_files, name)
        if sym:
            sym_path, s = sym[0]
            verdict = "holds" if bool(s["passed"].all()) else f"{int((~s['passed'].astype(bool)).sum())} violated"
            if "informative" in s and (s["informative"].astype(str) == "False").any():
                verdict += " (uninformative)"
            row["symmetry"] = _link(verdict, sym_path, reports)
        else:
            row["symmetry"] = "-"
        row["warnings"] = warnings or "none"
        rows.append(row)
    return pd.DataFrame(rows)


def results_markdown(results: pd.DataFrame) -> list[str]:
    """Markdown lines of the results section (empty list when there is nothing evaluated)."""
    if results.empty:
        return []
    cols = list(results.columns)
    lines = ["## Results", "",
             "One row per evaluated run (FG-ARI, ARI, MSE, KL: mean over the evaluated test images; D, C, I: "
             "DCI; each number links its source file).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "/") for v in r) + " |")
    return lines + [""]
