"""Learning curve of a training run: FG-ARI, ARI, MSE and KL of every checkpoint against steps
and wall-clock minutes.

Either trains first (``--model/--preset/--minutes``: ``emorl-eval train`` with ``--max-minutes``
on a generated built-in dataset, or ``--data``) or reads an existing run folder (``--run``).
Every checkpoint of the run is evaluated on the first ``--num`` test images with
``emorl_eval.evaluate.evaluate_model`` (the numbers ``emorl-eval evaluate`` prints); results are
cached in ``RUN/learning_curve.csv`` so a growing background run can be re-read cheaply.

    python benchmarks/learning_curve.py --model emorl --preset tetrominoes_cpu --minutes 30
    python benchmarks/learning_curve.py --run runs/emorl_tetrominoes_cpu_s1 --figure curve.png

Wall minutes are the training time stored in each checkpoint (``extra["train_seconds"]``, all
``--resume`` invocations together); for checkpoints written without it, the sum of the logged
intervals of ``metrics.csv`` up to that step. A run started with ``train --init-from`` counts its
whole lineage: its first row is the parent checkpoint (at the parent's step), and minutes are the
cumulative training minutes of all ancestors (``extra["lineage"]``); one started from some of
another run's modules (``--init-modules``) has no parent row (its steps count from 0).

    python benchmarks/learning_curve.py --run RUN_GECO --run RUN_NOGECO --x step --figure side_by_side.png

A lineage trained over several run folders (a run continued with ``--init-from`` from a step of
another) is one line with ``--chain LABEL=RUN1,RUN2,...``: each folder's rows before the step the
next one branched off (its ``lineage.parent_steps``), then the next's. ``--csv`` writes every
plotted row (long form), ``--table-every N`` prints a markdown table of the rows at multiples of N.

    python benchmarks/learning_curve.py --chain s1=geco_s1,geco_s1_decay5k --x step --figure s1.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

CURVE_FILE = "learning_curve.csv"
COLUMNS = ["step", "minutes", "ari_fg", "ari_all", "mse", "kl"]


def parent_row(run: Path) -> tuple[int, Path, float] | None:
    """(step, checkpoint, cumulative minutes) of the parent that a run continues, the first point
    of its curve; None for a run from scratch and for one started from some of another run's
    modules (``--init-modules``: its step counter starts at 0, the parent is not on its curve)."""
    import json

    from emorl_eval import zoo

    lineage = json.loads((run / "config.json").read_text()).get("lineage")
    if not lineage or lineage.get("init_modules"):
        return None
    step = int(lineage["parent_steps"])
    return step, parent_checkpoint(zoo.resolve(lineage["parent"]), step), float(lineage["parent_cumulative_minutes"])


def parent_checkpoint(path: Path, step: int) -> Path:
    """The parent's checkpoint file: a file or zoo entry as it is; a run folder's checkpoint of the
    parent's step (the folder may have trained on since the child started), else its latest."""
    from emorl_eval.evaluate import resolve_checkpoint
    from emorl_eval.training.checkpointing import checkpoint_name

    path = Path(path)
    if path.is_dir() and (path / checkpoint_name(step)).is_file():
        return path / checkpoint_name(step)
    return Path(resolve_checkpoint(path))


def logged_minutes(run: Path) -> dict[int, float]:
    """Step -> training minutes summed from metrics.csv's logged intervals (a fallback)."""
    metrics = run / "metrics.csv"
    if not metrics.is_file():
        return {}
    df = pd.read_csv(metrics)
    steps = df["step"].tolist()
    seconds, total, previous = {}, 0.0, 0
    for step, rate in zip(steps, df["steps_per_s"].tolist()):
        total += (step - previous) / max(float(rate), 1e-9)
        seconds[int(step)] = total / 60.0
        previous = step
    return seconds


def checkpoint_minutes(path: Path, fallback: dict[int, float], step: int) -> float:
    import torch

    extra = torch.load(path, map_location="cpu", weights_only=True).get("extra") or {}
    if "lineage" in extra:
        return float(extra["lineage"]["cumulative_minutes"])
    if "train_seconds" in extra:
        return float(extra["train_seconds"]) / 60.0
    earlier = [s for s in fallback if s <= step]
    return fallback[max(earlier)] if earlier else float("nan")


def evaluate_run(run: Path, data: Path | None, num: int, every: int) -> pd.DataFrame:
    """One row per checkpoint of ``run`` (cached in RUN/learning_curve.csv)."""
    import json

    from emorl_eval import models
    from emorl_eval.data import ObjectsDataset
    from emorl_eval.evaluate import evaluate_model
    from emorl_eval.training.checkpointing import step_checkpoints

    if data is None:
        data = Path(json.loads((run / "config.json").read_text())["train"]["data"])
    cache_file = run / CURVE_FILE
    cache = pd.read_csv(cache_file) if cache_file.is_file() else pd.DataFrame(columns=COLUMNS + ["num"])
    cache = cache[cache["num"] == num] if len(cache) else cache
    done = set(cache["step"].astype(int)) if len(cache) else set()
    dataset = ObjectsDataset(data, split="test")
    fallback = logged_minutes(run)
    rows = [cache]
    found = step_checkpoints(run)
    parent_minutes: dict[int, float] = {}
    start = parent_row(run)
    if start is not None:  # the curve starts where the parent stopped
        step, path, minutes = start
        found = [(step, path)] + found
        parent_minutes[step] = minutes
    for step, path in found:
        if step in done or (every > 1 and step % every):
            continue
        model = models.load(path)
        df = evaluate_model(model, dataset, num=num, progress=False)
        minutes = parent_minutes.get(step, None)
        if minutes is None:
            minutes = checkpoint_minutes(path, fallback, step)
        row = {"step": step, "minutes": minutes, "num": num}
        row.update({k: float(df[k].mean()) for k in ("ari_fg", "ari_all", "mse", "kl")})
        rows.append(pd.DataFrame([row]))
        print(f"  step {step:>7}  {row['minutes']:7.1f} min  FG-ARI {row['ari_fg']:.3f}  ARI {row['ari_all']:.3f}  "
              f"MSE {row['mse']:.5f}  KL {row['kl']:.2f}", flush=True)
    rows = [r for r in rows if len(r)]
    if not rows:
        return pd.DataFrame(columns=COLUMNS + ["num"])
    curve = pd.concat(rows, ignore_index=True).sort_values("step")
    curve = curve.drop_duplicates("step", keep="last")
    tmp = cache_file.with_suffix(".csv.tmp")
    curve.to_csv(tmp, index=False)
    tmp.replace(cache_file)
    return curve


def branch_step(run: Path, parent_run: Path) -> int:
    """The step at which ``run`` was started from ``parent_run`` (``train --init-from`` of that
    folder or one of its checkpoints); ValueError when ``run`` does not continue ``parent_run``."""
    import json

    config = run / "config.json"
    lineage = (json.loads(config.read_text()).get("lineage") if config.is_file() else None) or {}
    parent = Path(str(lineage.get("parent", "")))
    folder = parent if parent.suffix != ".pt" else parent.parent
    if not lineage or lineage.get("init_modules") or folder.name != parent_run.name:
        raise ValueError(f"{run} does not continue {parent_run} (its parent: {lineage.get('parent')})")
    return int(lineage["parent_steps"])


def chain_curve(runs: list[Path], curves: dict[Path, pd.DataFrame]) -> pd.DataFrame:
    """One lineage's curve from the curves of its folders, oldest first: each folder's rows
    before the step where the next folder branched off it (the next one's first row is that
    step's checkpoint), then the next folder's, with a ``run`` column naming the folder."""
    parts = []
    for run, following in zip(runs, [*runs[1:], None]):
        curve = curves[run].assign(run=run.name)
        if following is not None:
            curve = curve[curve["step"] < branch_step(following, run)]
        parts.append(curve)
    return pd.concat(parts, ignore_index=True).sort_values("step", kind="stable").reset_index(drop=True)


def markdown_table(curves: dict[str, pd.DataFrame], every: int) -> str:
    """FG-ARI / MSE of each curve at the steps that are multiples of ``every`` (one column per
    curve, "-" where a curve has no checkpoint of that step)."""
    names = list(curves)
    steps = sorted({int(s) for c in curves.values() for s in c["step"] if int(s) % every == 0})
    lines = ["| step | " + " | ".join(f"{n} FG-ARI / MSE" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for step in steps:
        cells = []
        for name in names:
            row = curves[name][curves[name]["step"] == step]
            cells.append(f"{row['ari_fg'].iloc[-1]:.3f} / {row['mse'].iloc[-1]:.4f}" if len(row) else "-")
        lines.append(f"| {step:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(curves: dict[str, pd.DataFrame], figure: Path, x: str = "minutes",
         targets: tuple[float | None, float | None] = (None, None)) -> None:
    """FG-ARI and MSE against wall minutes (or steps), one line per run (seaborn); ``targets``
    (FG-ARI, MSE) are drawn as dotted lines where given."""
    import seaborn as sns

    from emorl_eval.figure_files import pyplot, save_figure

    plt = pyplot()
    long = pd.concat([c.assign(run=name) for name, c in curves.items()], ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    label = "training wall minutes (2-core CPU)" if x == "minutes" else "training step"
    sns.lineplot(data=long, x=x, y="ari_fg", hue="run", marker="o", ax=axes[0])
    axes[0].set(xlabel=label, ylabel="FG-ARI (test)", ylim=(-0.02, 1.02))
    sns.lineplot(data=long, x=x, y="mse", hue="run", marker="o", ax=axes[1], legend=False)
    axes[1].set(xlabel=label, ylabel="MSE (test)", yscale="log")
    for axis, target in zip(axes, targets):
        if target is not None:
            axis.axhline(target, color="grey", linestyle=":", linewidth=1)
    fig.tight_layout()
    save_figure(fig, figure, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", type=Path, default=[], help="existing run folder (repeatable)")
    parser.add_argument("--model", help="train this model first (with --preset and --minutes)")
    parser.add_argument("--preset")
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to emorl-eval train")
    parser.add_argument("--data", type=Path, help="dataset (default: the run's training data, or generated)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where a trained run goes")
    parser.add_argument("--ckpt-every", type=int, default=500)
    parser.add_argument("--num", type=int, default=320, help="test images per checkpoint")
    parser.add_argument("--every", type=int, default=1, help="evaluate only checkpoints whose step is a multiple")
    parser.add_argument("--figure", type=Path, help="PNG of the curves")
    parser.add_argument("--x", choices=("minutes", "step"), default="minutes", help="x axis of the figure")
    parser.add_argument("--chain", action="append", default=[], metavar="LABEL=RUN1,RUN2,...",
                        help="one lineage over several run folders, oldest first (repeatable)")
    parser.add_argument("--target-fg-ari", type=float, help="draw this FG-ARI target in the figure")
    parser.add_argument("--target-mse", type=float, help="draw this MSE target in the figure")
    parser.add_argument("--csv", type=Path, help="write the plotted rows (long form) here")
    parser.add_argument("--table-every", type=int, help="print a markdown table of the rows at multiples of N steps")
    args = parser.parse_args()

    runs = list(args.run)
    if args.model:
        data = args.data
        if data is None:
            data = args.out / "data" / "tetrominoes_20k.h5"
            if not data.is_file():
                subprocess.run([sys.executable, "-m", "emorl_eval", "data", "generate", "--dataset", "tetrominoes",
                                "--num", "20000", "--seed", "0", "--out", str(data)], check=True)
        run = args.out / f"{args.model}_{args.preset}_s{args.seed}"
        cmd = [sys.executable, "-m", "emorl_eval", "train", "--model", args.model, "--data", str(data),
               "--seed", str(args.seed), "--out", str(run), "--max-minutes", str(args.minutes),
               "--ckpt-every", str(args.ckpt_every), "--no-progress"]
        cmd += ["--preset", args.preset] if args.preset else []
        cmd += [a for s in args.set for a in ("--set", s)]
        cmd += ["--resume"] if (run / "checkpoint_last.pt").is_file() else []
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=False)
        runs.append(run)
    chains = {}
    for item in args.chain:
        label, sep, folders = item.partition("=")
        if not sep or not folders.strip():
            parser.error(f"--chain {item!r}: expected LABEL=RUN1,RUN2,...")
        chains[label] = [Path(f.strip()) for f in folders.split(",") if f.strip()]
    if not runs and not chains:
        parser.error("give --run DIR, --chain LABEL=DIR,... or --model/--preset/--minutes")
    by_folder: dict[Path, pd.DataFrame] = {}
    for run in [*runs, *(r for c in chains.values() for r in c)]:
        if run in by_folder:
            continue
        print(f"{run}:", flush=True)
        by_folder[run] = evaluate_run(run, args.data if not args.model else None, args.num, args.every)
    curves = {run.name: by_folder[run] for run in runs}
    try:
        curves.update({label: chain_curve(folders, by_folder) for label, folders in chains.items()})
    except ValueError as err:
        parser.error(str(err))
    for name, curve in curves.items():
        print(f"{name}:")
        print(curve[COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        long = pd.concat([c.assign(curve=name) for name, c in curves.items()], ignore_index=True)
        long.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.table_every:
        print(markdown_table(curves, args.table_every))
    if args.figure:
        plot(curves, args.figure, x=args.x, targets=(args.target_fg_ari, args.target_mse))
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
