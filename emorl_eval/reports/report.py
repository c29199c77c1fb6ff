"""``emorl-eval report``: everything that applies to a folder of runs, indexed in README.md.

1. the ablation table over all run folders (``tables/ablation.*``);
2. for each run with a checkpoint, on the first ``--data`` file whose image size fits the model:
   the decomposition, traversal and stages figures (``figures/<run>_*.png``) and the leakage
   (``leakage/<run>.*``), plus one leakage table over runs (``tables/leakage.*``);
3. optionally the timing (``timing/timing.*``);
4. ``README.md`` linking every table and figure under the output folder.
A run that cannot be processed is skipped with a note in the README instead of stopping the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from emorl_eval.errors import EmorlEvalError
from emorl_eval.reports.index import write_index
from emorl_eval.reports.plots import ablation_plot
from emorl_eval.reports.runs import RunTable, discover_runs
from emorl_eval.reports.tables import to_markdown, write_ablation


@dataclass
class ReportResult:
    """Attributes: readme (path), written (artifact paths), notes (what was skipped and why),
    leakage (one row per run measured)."""

    readme: Path
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    leakage: pd.DataFrame = field(default_factory=pd.DataFrame)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The run's last checkpoint: the ``checkpoint*.pt`` with the largest step number in its
    name; names without a number (``checkpoint_final.pt``) count as the last; ties by mtime."""
    files = [p for p in run_dir.glob("checkpoint*.pt") if p.is_file()]
    if not files:
        return None

    def key(p: Path) -> tuple[float, float]:
        numbers = re.findall(r"\d+", p.stem)
        return (float(numbers[-1]) if numbers else float("inf"), p.stat().st_mtime)

    return max(files, key=key)


def _data_size(path: Path) -> tuple[int, int]:
    from emorl_eval.data import ObjectsDataset

    return tuple(ObjectsDataset(path, split="test").image_size)  # type: ignore[return-value]


def build_report(runs_root: str | Path, data_files: list[Path] | None = None, out: str | Path = "reports",
                 timing: dict[str, Any] | None = None, num_images: int = 4, range_images: int = 100,
                 leakage_images: int = 4, dims_per_slot: int = 4, steps: int = 5, seed: int = 0,
                 device: str = "cpu", log: Callable[[str], None] = lambda s: None) -> ReportResult:
    """Run the report (module docstring). ``timing`` = keyword arguments of
    :func:`emorl_eval.reports.timing.measure_timing` (None: no timing; an existing
    ``timing/timing.csv`` is still linked)."""
    out = Path(out)
    result = ReportResult(readme=out / "README.md")
    table: RunTable = discover_runs(runs_root)
    paths = write_ablation(table, out / "tables" / "ablation")
    fig = ablation_plot(table, out / "tables" / "ablation.png")
    result.written += [paths["md"], paths["csv"], paths["tex"]] + ([fig] if fig else [])
    if len(table.missing):
        result.notes.append(f"{len(table.missing)} run(s) have no evaluation: "
                            + ", ".join(table.missing["run"].astype(str)) + " (see tables/ablation.md)")
    log(f"ablation table: {len(table.runs)} evaluated run(s), {len(table.missing)} missing an evaluation")

    if data_files:
        result.leakage = _per_run_figures(table, data_files, out, result, num_images, range_images,
                                          leakage_images, dims_per_slot, steps, seed, device, log)
    else:
        result.notes.append("no --data given: `report` drew no per-run figures or leakage itself "
                            "(any listed below were written by other commands)")

    if timing is not None:
        from emorl_eval.reports.plots import timing_plot
        from emorl_eval.reports.timing import measure_timing

        df = measure_timing(**timing)
        (out / "timing").mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "timing" / "timing.csv", index=False)
        ok = df[df["status"] == "ok"]
        (out / "timing" / "timing.md").write_text(
            "# Forward + backward time per step\n\n" + to_markdown(
                ok[["model", "preset", "image_size", "batch_size", "device", "params", "ms_per_step"]].round(2)))
        plot = timing_plot(ok, out / "timing" / "timing.png")
        result.written += [out / "timing" / "timing.csv"] + ([plot] if plot else [])
        for r in df[df["status"] != "ok"].itertuples():
            result.notes.append(f"timing {r.model} @ {r.image_size}: {r.status}")
        log(f"timing: {len(ok)} of {len(df)} (model, size) pairs timed")

    from emorl_eval.reports.headline import results_markdown, results_table

    result.readme = write_index(out, notes=result.notes, results=results_markdown(results_table(table, out)))
    return result


def _per_run_figures(table: RunTable, data_files: list[Path], out: Path, result: ReportResult,
                     num_images: int, range_images: int, leakage_images: int, dims_per_slot: int,
                     steps: int, seed: int, device: str, log: Callable[[str], None]) -> pd.DataFrame:
    from emorl_eval.reports.figures import decompose_figure, stages_figure, traverse_figure
    from emorl_eval.reports.inference import load_checkpoint, load_images
    from emorl_eval.reports.leakage import leakage_figure, measure_leakage

    sizes = {}
    for path in data_files:
        try:
            sizes[Path(path)] = _data_size(Path(path))
        except EmorlEvalError as err:
            result.notes.append(f"data {path} skipped: {err}")
    run_dirs = [Path(p) for p in list(table.runs["path"]) + list(table.missing["path"])]
    rows = []
    for run_dir in sorted(set(run_dirs)):
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            result.notes.append(f"{run_dir.name}: no checkpoint*.pt, no figures")
            continue
        try:
            model = load_checkpoint(ckpt, None, device)
            data = next((p for p, s in sizes.items() if tuple(s) == tuple(model.image_size)), None)
            if data is None:
                result.notes.append(f"{run_dir.name}: no --data file of size "
                                    f"{model.image_size[0]}x{model.image_size[1]}, no figures")
                continue
            name = run_dir.name
            images = load_images(data, max(range_images, num_images, leakage_images), 0)
            log(f"{name}: figures on {data}")
            figs = out / "figures"
            result.written.append(decompose_figure(model, images[:num_images], figs / f"{name}_decompose.png",
                                                   seed=seed, device=device))
            path, _ = traverse_figure(model, images, figs / f"{name}_traverse.png", seed=seed, device=device)
            result.written.append(path)
            path, _ = stages_figure(model, images[0], figs / f"{name}_stages.png", seed=seed, device=device)
            result.written.append(path)
            leak = measure_leakage(model, images[:leakage_images], range_images=images, dims_per_slot=dims_per_slot,
                                   steps=steps, seed=seed, device=device)
            (out / "leakage").mkdir(parents=True, exist_ok=True)
            summary = leak.summary()
            summary.to_csv(out / "leakage" / f"{name}.csv", index=False)
            result.written.append(leakage_figure(model, images[0], out / "leakage" / f"{name}.png",
                                                 bounds=leak.bounds, steps=steps, candidate_dims=dims_per_slot,
                                                 seed=seed, device=device))
            rows.append({"run": name, "model": type(model).model_name, "checkpoint": ckpt.name,
                         "leakage": leak.score, "n_included": leak.n_included})
        except EmorlEvalError as err:
            result.notes.append(f"{run_dir.name}: skipped ({err})")
    df = pd.DataFrame(rows, columns=["run", "model", "checkpoint", "leakage", "n_included"])
    if len(df):
        (out / "tables").mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "tables" / "leakage.csv", index=False)
        (out / "tables" / "leakage.md").write_text(
            "# Leakage per run\n\nFraction of a one-slot traversal's image change outside the slot's mask "
            "(0 = independent slots; see emorl_eval/reports/leakage.py).\n\n" + to_markdown(df.round(4)))
    return df
