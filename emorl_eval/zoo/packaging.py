"""Turn a finished training run into a zoo entry (``emorl-eval zoo add``).

The entry gets the run's final weights without the optimiser state, its ``config.json``, the
evaluation of exactly those weights on the first ``num`` test images of ``data``, and a model card
(``card.json`` + ``MODEL_CARD.md``) built from the run's own records: the command that reproduces
the run, steps, training wall time, machine, commit, evaluation numbers.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emorl_eval.errors import CheckpointError, ConfigError
from emorl_eval.provenance import code_commit
from emorl_eval.zoo import CARD_FILE, CARD_MARKDOWN, CHECKPOINT_FILE, SHIPPED_ROOT

#: card keys of the evaluation block, from summary.csv's metrics
CARD_METRICS = ("ari_fg", "ari_all", "mse", "kl", "matched_iou", "matched_coverage")
#: headers of the card's evaluation table
CARD_HEADERS = {"ari_fg": "FG-ARI", "ari_all": "ARI (all pixels)", "mse": "MSE", "kl": "KL (nats)",
                "matched_iou": "matched IoU", "matched_coverage": "matched coverage"}


def train_command(config: dict[str, Any], steps: int | None = None) -> str:
    """The ``emorl-eval train`` command line equivalent to a run's ``config.json``: the preset
    plus every training field that differs from the preset's defaults, and the model overrides.
    ``steps`` replaces the configured steps (a run stopped early is reproduced by training to the
    step it reached: no schedule depends on the total)."""
    from emorl_eval.training.config import TrainConfig, resolve_train_config, set_text

    train = config["train"]
    base = resolve_train_config(train["model"], train["data"], train["out"], train.get("preset")).to_dict()
    args = ["emorl-eval", "train", "--model", train["model"]]
    if train.get("preset"):
        args += ["--preset", train["preset"]]
    if train.get("init_from"):
        args += ["--init-from", str(train["init_from"])]
    if train.get("init_modules"):
        args += ["--init-modules", ",".join(train["init_modules"])]
    args += ["--data", train["data"], "--steps", str(steps or train["steps"]), "--seed", str(train["seed"]),
             "--batch-size", str(train["batch_size"])]
    skip = {"model", "preset", "data", "out", "steps", "seed", "batch_size", "model_overrides", "progress",
            "device", "num_workers", "log_every", "ckpt_every", "max_minutes", "init_from", "init_modules"}
    fields = TrainConfig.__dataclass_fields__
    for key, value in train.items():
        if key in skip or key not in fields or base.get(key) == value:
            continue
        args += ["--set", f"{key}={set_text(value)}"]
    for key, value in sorted((train.get("model_overrides") or {}).items()):
        args += ["--set", f"{key}={set_text(value)}"]
    args += ["--out", train["out"]]
    return " ".join(shlex.quote(a) for a in args)


def data_command(path: Path) -> str | None:
    """The ``emorl-eval data generate`` command that rewrites ``path`` (None for files we did not
    generate): name, image count, seed and test fraction from the file itself."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            attrs = dict(fh.attrs)
            counts = {k: int(fh[k]["imgs"].shape[0]) for k in ("train", "test") if k in fh}
    except (OSError, KeyError):
        return None
    if attrs.get("format") != "emorl-eval" or int(attrs.get("seed", -1)) < 0:
        return None
    total = sum(counts.values())
    args = ["emorl-eval", "data", "generate", "--dataset", str(attrs["dataset_name"]), "--num", str(total),
            "--seed", str(int(attrs["seed"]))]
    if total and round(total * 0.1) != counts.get("test", 0):
        args += ["--test-fraction", f"{counts.get('test', 0) / total:g}"]
    return " ".join(args + ["--out", shlex.quote(str(path))])


def machine_description() -> str:
    """``"Linux x86_64, 2 CPU cores, torch 2.13.0+cpu"``-style text."""
    import os

    import torch

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"


def _previous_names(folder: Path) -> list[str]:
    """The old names an existing entry answers to (card ``previous_names``), which replacing its
    weights must not drop; [] for a new entry or an unreadable card."""
    try:
        card = json.loads((folder / CARD_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [str(n) for n in card.get("previous_names") or []]


def add_run(run: Path, name: str, data: Path, *, num: int = 320, root: Path = SHIPPED_ROOT,
            description: str = "", machine: str | None = None, batch_size: int = 32,
            overwrite: bool = False, progress: bool = False, train_commit: str | None = None,
            step: int | None = None) -> Path:
    """Package ``run``'s ``checkpoint_last.pt`` (or, with ``step``, its ``checkpoint_<step>.pt``)
    as zoo entry ``root/name``; returns the folder.

    The evaluation (seed 0, the model's own refinement steps) is run here on the first ``num``
    images of ``data``'s test split and stored with the entry; the card quotes those numbers.
    The entry's training log and learning curve stop at the packaged step.
    Replacing an entry (``overwrite``) keeps the old names it answers to (``previous_names``).
    The run may still be training: its checkpoint is read once.
    """
    import torch

    from emorl_eval.data import ObjectsDataset
    from emorl_eval.evaluate import evaluate_model, write_evaluation
    from emorl_eval.models.checkpoints import file_sha256, model_from_checkpoint, read_checkpoint, save_checkpoint
    from emorl_eval.training.checkpointing import LAST, checkpoint_name, step_checkpoints

    run = Path(run)
    last = run / LAST
    if not (run / "config.json").is_file() or not last.is_file():
        raise CheckpointError(f"{run} is not a finished run folder (needs config.json and {LAST})")
    if step is not None:
        last = run / checkpoint_name(step)
        if not last.is_file():
            kept = step_checkpoints(run)
            raise CheckpointError(f"{run}: no {last.name}; the run has {len(kept)} step checkpoints"
                                  + (f", the latest {kept[-1][1].name}" if kept else ""))
    folder = Path(root) / name
    if folder.exists() and not overwrite:
        raise ConfigError(f"zoo entry {folder} exists; pass --overwrite to replace it")
    config = json.loads((run / "config.json").read_text())
    previous_names = _previous_names(folder)
    # read once: a run still training replaces the file, and two reads could pair one step's card
    # with another step's weights
    raw = read_checkpoint(last)
    extra = raw.get("extra") or {}
    model = model_from_checkpoint(raw, last)

    tmp = folder.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    kept = {"train_seconds": float(extra.get("train_seconds", float("nan")))}
    if extra.get("lineage"):  # so that a run started from this entry continues the lineage
        kept["lineage"] = extra["lineage"]
    ckpt = save_checkpoint(tmp / CHECKPOINT_FILE, model, int(raw["step"]), extra=kept)
    torch.load(ckpt, map_location="cpu", weights_only=True)  # the promise of the zoo
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # the training log and, when benchmarks/learning_curve.py has evaluated the run, its curve,
    # up to the packaged step (a run still training, or packaged at an earlier step, has more rows)
    for log_name in ("metrics.csv", "learning_curve.csv"):
        if (run / log_name).is_file():
            _copy_rows_up_to(run / log_name, tmp / log_name, int(raw["step"]))

    dataset = ObjectsDataset(data, split="test")
    df = evaluate_model(model, dataset, num=num, batch_size=batch_size, progress=progress,
                        metadata={"checkpoint": f"zoo:{name}", "checkpoint_step": int(raw["step"]),
                                  "preset": config.get("preset")})
    write_evaluation(df, tmp / "eval")
    evaluation: dict[str, Any] = {"data": str(data), "split": "test", "num_images": int(len(df)), "seed": 0}
    for key in CARD_METRICS:
        if key in df and df[key].notna().any():  # a model without a KL has none to report
            evaluation[key] = float(df[key].mean())
            evaluation[f"{key}_std"] = float(df[key].std(ddof=0))
    train = config["train"]
    card = {
        "name": name,
        "model": config["model_name"],
        "preset": config.get("preset"),
        "dataset": config.get("dataset"),
        "description": description,
        "command": train_command(config, steps=int(raw["step"])),
        "steps": int(raw["step"]),
        "train_minutes": round(float(extra.get("train_seconds", float("nan"))) / 60.0, 1),
        "machine": machine or machine_description(),
        "commit": code_commit(mark_dirty=False),
        # the code the run trained with: recorded by the trainer, or given when packaging
        "train_commit": train_commit or config.get("git_commit"),
        "data_command": data_command(Path(train["data"])) or data_command(Path(data)),
        "num_parameters": int(config.get("num_parameters", 0)),
        "batch_size": int(train["batch_size"]),
        "seed": int(train["seed"]),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "checkpoint_sha256": file_sha256(ckpt),
        "checkpoint_bytes": ckpt.stat().st_size,
        "evaluation": evaluation,
    }
    if previous_names:
        card["previous_names"] = previous_names
    if extra.get("lineage"):
        lineage = extra["lineage"]
        card["lineage"] = lineage
        card["cumulative_steps"] = int(lineage["cumulative_steps"])
        card["cumulative_train_minutes"] = float(lineage["cumulative_minutes"])
    (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    (tmp / CARD_MARKDOWN).write_text(card_markdown(card))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def _copy_rows_up_to(source: Path, target: Path, step: int) -> None:
    """Copy a CSV log, keeping the header and the rows whose ``step`` is at most ``step``
    (a file without a step column is copied as it is)."""
    with open(source, newline="") as fh:  # keep the log's own line endings
        lines = fh.read().splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",") if lines else []
    if "step" not in header:
        shutil.copyfile(source, target)
        return
    col = header.index("step")

    def keep(line: str) -> bool:
        try:
            return float(line.split(",")[col]) <= step
        except (IndexError, ValueError):
            return False

    with open(target, "w", newline="") as fh:
        fh.write("".join([lines[0], *(line for line in lines[1:] if keep(line))]))


def card_markdown(card: dict[str, Any]) -> str:
    """The human-readable model card of ``card.json``."""
    ev = card["evaluation"]
    shown = [k for k in CARD_METRICS if k in ev]
    lines = [
        f"# zoo:{card['name']}",
        "",
        card.get("description") or f"{card['model']} ({card['preset']}) trained on built-in {card['dataset']}.",
        "",
        "| | |",
        "|---|---|",
        f"| model / preset | `{card['model']}` / `{card['preset']}` |",
        f"| trainable parameters | {card['num_parameters']:,} |",
        f"| steps (batch {card['batch_size']}) | {card['steps']:,} |",
        f"| training wall time | {card['train_minutes']} min |",
        *_lineage_rows(card),
        f"| machine | {card['machine']} |",
        f"| commit (packaged) | `{card['commit']}` |",
        f"| commit (trained) | `{card.get('train_commit') or 'not recorded'}` |",
        f"| checkpoint | `checkpoint.pt`, {card['checkpoint_bytes'] / 1e6:.2f} MB, sha256 `{card['checkpoint_sha256'][:16]}...` |",
        "",
        "Reproduce (then `emorl-eval zoo add RUN --name NAME --data DATA`):",
        "",
        "```bash",
        *([card["data_command"]] if card.get("data_command") else []),
        card["command"],
        "```",
        "",
        f"Evaluation measured on this checkpoint: first {ev['num_images']} images of the `{ev['split']}` split "
        f"of `{Path(ev['data']).name}`, seed {ev['seed']} (`eval/summary.csv`, `eval/per_image.csv`):",
        "",
        "| " + " | ".join(CARD_HEADERS[k] for k in shown) + " |",
        "|" + "---|" * len(shown),
        "| " + " | ".join(f"{ev[k]:.4f} ± {ev[k + '_std']:.4f}" if k != "mse" else f"{ev[k]:.2e} ± {ev[k + '_std']:.1e}"
                         for k in shown) + " |",
        "",
    ]
    return "\n".join(lines)


def _lineage_rows(card: dict[str, Any]) -> list[str]:
    """Model-card rows of a run started with ``train --init-from`` (none for a run from scratch)."""
    lineage = card.get("lineage")
    if not lineage:
        return []
    chain = [a["parent"] for a in lineage.get("ancestors") or []] + [lineage["parent"]]
    modules = lineage.get("init_modules")
    taken = f"modules {', '.join(f'`{m}`' for m in modules)} of " if modules else ""
    return [
        f"| started from | {taken}`{lineage['parent']}` at step {lineage['parent_steps']:,} "
        f"(sha256 `{lineage['parent_sha256'][:16]}...`; lineage: {' -> '.join(f'`{c}`' for c in chain)}) |",
        f"| whole lineage | {card['cumulative_steps']:,} steps, {card['cumulative_train_minutes']:.1f} training min |",
    ]
