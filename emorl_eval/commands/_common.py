"""Options and helpers shared by the report commands (figures, leakage, report)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import click

from emorl_eval.devices import DEVICE_HELP, check_device_option


def parse_int_list(value: str | None, option: str) -> list[int] | None:
    """``"64,96,128"`` -> ``[64, 96, 128]``; None for None/empty."""
    from emorl_eval.errors import ConfigError

    if value is None or not value.strip():
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} {value!r}: expected comma-separated integers") from None


class CheckpointPath(click.ParamType):
    """A ``--ckpt`` value: a checkpoint file, a run folder (converted to its ``checkpoint_last.pt``,
    else its newest ``checkpoint*.pt``, or an official GENESIS run's newest ``model.ckpt-*``), or ``zoo:NAME`` (converted to the zoo entry's checkpoint
    file; an unknown name is a one-line error listing the known ones)."""

    name = "checkpoint"

    def __init__(self, exists: bool = False) -> None:
        self.exists = exists

    def convert(self, value, param, ctx):  # type: ignore[override]
        from emorl_eval import zoo

        from emorl_eval.errors import CheckpointError
        from emorl_eval.evaluate import resolve_checkpoint

        if isinstance(value, Path):
            return value
        path = zoo.resolve(value)
        if self.exists and not path.exists():
            self.fail(f"{value}: no such file", param, ctx)
        try:
            return Path(resolve_checkpoint(path))  # a run folder -> its checkpoint_last.pt
        except CheckpointError as exc:
            self.fail(str(exc), param, ctx)


#: help text shared by every --ckpt option
CKPT_HELP = ("Checkpoint: ours (runs/NAME/checkpoint_last.pt or the run folder), a zoo model "
             "(zoo:NAME, see emorl-eval zoo list), an official EfficientMORL one (with --preset) or an "
             "official GENESIS / GENESIS-v2 one (model.ckpt-* or its run folder: FINAL, else latest, else the "
             "highest iteration; flags.json beside it or --flags).")


def _record_flags(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """Set (or, without --flags, reset) the flags file official GENESIS checkpoints load with."""
    from emorl_eval.models.checkpoints import use_flags

    use_flags(value)


def flags_option(func: Callable) -> Callable:
    """``--flags FILE.json``: the flags of official GENESIS / GENESIS-v2 checkpoints whose run folder
    (with its flags.json) is elsewhere; applies to every official GENESIS --ckpt of the command."""
    return click.option(
        "--flags", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        expose_value=False, is_eager=True, callback=_record_flags,
        help="flags.json of an official GENESIS / GENESIS-v2 run (default: the one beside the checkpoint).",
    )(func)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; CUDA on a machine without it is a
    one-line ConfigError naming the torch build (:func:`emorl_eval.devices.resolve_device`)."""
    from emorl_eval.devices import resolve_device as resolve

    return str(resolve(device))


def run_name(ckpt: Path) -> str:
    """Name used for default output files: the run folder's name for a checkpoint inside a run
    folder (beside a config.json), else the checkpoint's file stem."""
    ckpt = Path(ckpt)
    return ckpt.parent.name if (ckpt.parent / "config.json").is_file() else ckpt.stem


def model_options(func: Callable) -> Callable:
    """--ckpt, --preset, --flags, --data, --split, --refinement-steps, --seed, --device."""
    options = [
        click.option("--ckpt", required=True, type=CheckpointPath(), help=CKPT_HELP),
        click.option("--preset", default=None, help="Preset for official EfficientMORL checkpoints (they store no config)."),
        flags_option,
        click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset file (.h5, EfficientMORL layout)."),
        click.option("--split", default="test", show_default=True, help="Split of the data file."),
        click.option("--refinement-steps", type=click.IntRange(min=0), default=None,
                     help="Test-time refinement steps I (default: the model's config; ignored by models without refinement)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling noise."),
        click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP, callback=check_device_option),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def parse_overrides(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    """click callback of a repeatable ``--set KEY=VALUE``: {key: JSON value, or the raw string}."""
    import json

    overrides = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def output_path_problem(path: Path, kind: str) -> str | None:
    """Why ``path`` cannot be written as a ``kind`` output (``"dir"``: a folder the command fills;
    ``"file"``: a file or a file-name prefix), or None. Creates nothing: checks that the nearest
    existing ancestor is a writable folder and that the path itself is not of the other kind."""
    path = Path(path)
    if kind == "dir" and path.exists() and not path.is_dir():
        return "exists and is not a folder"
    if kind == "file" and path.is_dir():
        return "is a folder; give a file name"
    ancestor = path if path.is_dir() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot write in {ancestor} (read-only or no permission)"
    return None


class OutputPath(click.ParamType):
    """An output option (``--out``, ``--figure``, ...) checked for writability when the command
    line is parsed, before any work: a read-only place, a file where a folder is expected or a
    folder where a file is expected is one usage line (exit 2)."""

    name = "path"

    def __init__(self, kind: str) -> None:
        if kind not in ("dir", "file"):
            raise ValueError(f"kind must be 'dir' or 'file', got {kind!r}")
        self.kind = kind

    def convert(self, value, param, ctx):  # type: ignore[override]
        path = Path(value)
        problem = output_path_problem(path, self.kind)
        if problem:
            self.fail(f"{value}: {problem}", param, ctx)
        return path


def checkpoint_spec(path: Path) -> str:
    """``zoo:NAME`` for a zoo entry's checkpoint, else the path."""
    from emorl_eval import zoo

    try:
        for entry in zoo.entries():
            if Path(entry.folder).resolve() == Path(path).resolve().parent:
                return f"zoo:{entry.name}"
    except Exception:  # a broken zoo must not stop the measurement: name it by its path
        pass
    return str(path)


def model_labels(ckpts: tuple[Path, ...], labels: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``(specs, names)`` of several ``--ckpt`` with their optional ``--label``: each checkpoint's
    :func:`checkpoint_spec` and its name in tables (the label, else zoo:NAME, else the run name).

    Raises:
        ConfigError: a label count other than 0 or one per checkpoint, or repeated names.
    """
    from emorl_eval.errors import ConfigError

    if labels and len(labels) != len(ckpts):
        raise ConfigError(f"--label given {len(labels)} times for {len(ckpts)} --ckpt; give one per checkpoint or none")
    specs = [checkpoint_spec(c) for c in ckpts]
    names = list(labels) if labels else [s if s.startswith("zoo:") else run_name(Path(s)) for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"labels {names} repeat; give distinct ones with --label")
    return specs, names
