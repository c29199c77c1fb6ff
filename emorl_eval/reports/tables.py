"""The ablation table (appendix Table 2): per (Env, variant) mean ± std across seeds.

Each run contributes one value per metric: its mean over the evaluated test images. The table
then gives, per group of runs that are the same variant (dataset, model, preset, every resolved
model-config and training field but the seed: :mod:`emorl_eval.reports.variants`) evaluated at
the same step, the mean and the sample standard deviation (``ddof=1``) of those run values
across seeds, and the number of runs. A variant is named by its preset and what departs from it. Display units
follow Table 2: ARI in percent (x100), MSE in units of 1e-4 per pixel-channel, KL in nats per
image; a metric the evaluations do not report shows as ``-``, a single run shows no ``±``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from emorl_eval.reports.runs import RunTable

#: metric -> (column header, factor applied for display, decimals)
DISPLAY: dict[str, tuple[str, float, int]] = {
    "ari": ("ARI", 100.0, 1),
    "mse": ("MSE (x1e-4)", 1e4, 1),
    "kl": ("KL", 1.0, 1),
}
LATEX_HEADERS = {"ari": "ARI", "mse": r"MSE ($\times 10^{-4}$)", "kl": "KL"}


def _known_presets(model: str | None) -> list[str]:
    """The model's preset names from the registry, or [] when it cannot tell."""
    if not model:
        return []
    try:
        from emorl_eval.models.presets import available_presets

        return list(available_presets(str(model)))
    except Exception:  # registry not there yet or unknown model: fall back to name rules
        return []


def split_preset(model: str | None, preset: str | None, dataset: str | None) -> tuple[str, str]:
    """(base, suffix) of an ablation preset, e.g. ``tetrominoes_no_geco`` -> (``tetrominoes``,
    ``no_geco``). The base is the longest other registered preset that prefixes it, else the
    dataset name when it prefixes it; a preset with neither is a base preset itself. ``<dataset>_cpu``
    (the CPU-size recipe of a dataset) is a base preset too: its ablations are ``<dataset>_cpu_*``."""
    if not preset:
        return "", ""
    preset = str(preset)
    if dataset and preset == f"{dataset}_cpu":
        return preset, ""
    bases = [p for p in _known_presets(model) if p != preset and preset.startswith(p + "_")]
    if bases:
        base = max(bases, key=len)
        return base, preset[len(base) + 1:]
    if _known_presets(model):
        return preset, ""
    if dataset and preset.startswith(str(dataset) + "_"):
        return str(dataset), preset[len(str(dataset)) + 1:]
    if dataset and preset == str(dataset):
        return preset, ""
    return preset, ""


def variant_label(model: str | None, suffix: str) -> str:
    """``("emorl", "no_geco")`` -> ``"emorl w/out geco"``; ``("emorl", "")`` -> ``"emorl"``."""
    name = str(model) if model else "?"
    if not suffix:
        return name
    words = suffix.replace("_", " ").strip()
    if words.startswith("no "):
        return f"{name} w/out {words[3:]}"
    return f"{name} w/ {words}"


def format_mean_std(mean: float, std: float, n: int, factor: float, decimals: int) -> str:
    """``82.4 ± 7.9`` in display units; ``-`` for NaN; no ``±`` for a single run."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    text = f"{mean * factor:.{decimals}f}"
    if n > 1 and std is not None and not math.isnan(std):
        text += f" ± {std * factor:.{decimals}f}"
    return text


def ablation_table(table: RunTable, metrics: Iterable[str] = ("ari", "mse", "kl")) -> pd.DataFrame:
    """Aggregate evaluated runs by (dataset, model, preset).

    Args:
        table: from :func:`emorl_eval.reports.runs.discover_runs`.
        metrics: metric keys of :data:`DISPLAY`.

    Returns:
        One row per group, sorted by Env then variant (base model first), columns ``Env,
        variant, model, preset, n_seeds, seeds`` then ``<m>_mean, <m>_std`` in raw units
        (ARI in [0,1], MSE per pixel-channel, KL nats) for each metric.
    """
    metrics = list(metrics)
    cols = ["Env", "variant", "model", "preset", "steps", "n_seeds", "seeds"]
    cols += [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    runs = table.runs
    if runs.empty:
        return pd.DataFrame(columns=cols)
    runs = runs.copy()
    for key in ("model", "preset", "dataset"):
        runs[key] = runs[key].fillna("?").astype(str)
    for key in ("variant_key", "variant_diff"):
        runs[key] = runs[key].fillna("").astype(str) if key in runs else ""
    runs["steps"] = pd.to_numeric(runs["steps"], errors="coerce") if "steps" in runs else math.nan
    rows: list[dict[str, Any]] = []
    keys = ["dataset", "model", "preset", "variant_key", "variant_diff", "steps"]
    for (dataset, model, preset, _, diff, steps), group in runs.groupby(keys, sort=False, dropna=False):
        _, suffix = split_preset(model, None if preset == "?" else preset, dataset)
        row: dict[str, Any] = {
            "Env": dataset,
            "variant": variant_label(model, suffix) + (f" ({diff})" if diff else ""),
            "model": model,
            "preset": preset,
            "steps": int(steps) if pd.notna(steps) else math.nan,
            "n_seeds": int(len(group)),
            "seeds": ",".join(str(s) for s in group["seed"].tolist()),
            "_base": suffix == "" and not diff,
        }
        for m in metrics:
            values = pd.to_numeric(group[m], errors="coerce").dropna()
            row[f"{m}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out.sort_values(["Env", "_base", "variant", "steps"], ascending=[True, False, True, True], kind="stable")
    return out.drop(columns="_base")[cols].reset_index(drop=True)


def display_table(agg: pd.DataFrame, metrics: Iterable[str] = ("ari", "mse", "kl")) -> pd.DataFrame:
    """Table 2's shape as strings: ``Env, variant, steps, ARI, MSE (x1e-4), KL, n seeds``."""
    metrics = list(metrics)
    steps = [f"{int(s):,}" if pd.notna(s) else "-" for s in agg["steps"]] if "steps" in agg else []
    out = pd.DataFrame({"Env": agg["Env"], "variant": agg["variant"], "steps": steps})
    for m in metrics:
        header, factor, decimals = DISPLAY[m]
        out[header] = [
            format_mean_std(r[f"{m}_mean"], r[f"{m}_std"], int(r["n_seeds"]), factor, decimals)
            for _, r in agg.iterrows()
        ]
    out["n seeds"] = agg["n_seeds"].astype(int).values if len(agg) else []
    return out.reset_index(drop=True)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of a DataFrame of strings/numbers (``|`` escaped, NaN as ``-``)."""
    def cell(v: Any) -> str:
        if isinstance(v, float) and math.isnan(v):
            return "-"
        return str(v).replace("|", r"\|")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX specials; ``±`` becomes ``$\\pm$``."""
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("$", r"\$"), ("{", r"\{"), ("}", r"\}")):
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$")


def to_latex(df: pd.DataFrame, caption: str, label: str, headers: dict[str, str] | None = None) -> str:
    """A booktabs ``table`` environment; ``headers`` maps column -> raw LaTeX header."""
    headers = headers or {}
    spec = "l" * 2 + "r" * (len(df.columns) - 2)
    head = " & ".join(headers.get(c, latex_escape(str(c))) for c in df.columns)
    body = [" & ".join(latex_escape(str(v)) for v in row) + r" \\" for row in df.itertuples(index=False)]
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head + r" \\", r"\midrule", *body,
        r"\bottomrule", r"\end{tabular}", r"\end{table}", "",
    ])


def write_ablation(table: RunTable, out: str | Path) -> dict[str, Path]:
    """Write the ablation table next to prefix ``out``: ``out.md`` (display table plus the list
    of runs missing an evaluation), ``out.csv`` (raw means/stds), ``out.tex``, ``out_runs.csv``
    (one row per evaluated run) and ``out_missing.csv``. Returns the written paths by kind."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    agg = ablation_table(table)
    shown = display_table(agg)
    paths = {
        "csv": out.with_name(out.name + ".csv"),
        "md": out.with_name(out.name + ".md"),
        "tex": out.with_name(out.name + ".tex"),
        "runs": out.with_name(out.name + "_runs.csv"),
        "missing": out.with_name(out.name + "_missing.csv"),
    }
    agg.to_csv(paths["csv"], index=False)
    table.runs.to_csv(paths["runs"], index=False)
    table.missing.to_csv(paths["missing"], index=False)
    md = ["# Ablation table", "",
          "Mean ± sample std (ddof=1) across seeds of each run's mean over its test images. "
          "ARI: foreground ARI x100; MSE: per pixel-channel, in units of 1e-4; KL: nats per image.", ""]
    md.append(to_markdown(shown) if len(shown) else "_No evaluated runs._\n")
    if len(table.missing):
        md += ["", f"## Runs missing an evaluation ({len(table.missing)})", "",
               to_markdown(table.missing[["run", "model", "preset", "dataset", "seed", "reason"]].fillna("?"))]
    paths["md"].write_text("\n".join(md))
    headers = {DISPLAY[m][0]: LATEX_HEADERS[m] for m in DISPLAY}
    paths["tex"].write_text(to_latex(
        shown, caption="Ablation study results (mean ± std across seeds).", label="tab:ablation",
        headers=headers))
    return paths
