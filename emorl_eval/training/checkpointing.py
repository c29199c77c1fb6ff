"""Training checkpoints: ``models.checkpoints`` files whose ``extra`` holds the trainer state.

Layout of a run folder's checkpoints: ``checkpoint_0010000.pt`` every ``ckpt_every`` steps and at
the end, and ``checkpoint_last.pt``, a copy of the newest one (what ``--resume`` reads).
``extra`` = ``{"train_config": dict, "optimizer": state_dict, "rng": [state of rank 0, rank 1,
...], "position": [epoch, batch], "world_size": int, "geco": {buffer: value}}``; the GECO
state is part of the model's state dict (buffers ``geco_C_ema``, ``geco_beta``); ``extra["geco"]``
is a readable copy.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from emorl_eval.errors import CheckpointError

LAST = "checkpoint_last.pt"


def checkpoint_name(step: int) -> str:
    return f"checkpoint_{step:07d}.pt"


def step_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every numbered checkpoint (``checkpoint_<step>.pt``) of a run, by step."""
    found = []
    for path in Path(run_dir).glob("checkpoint_*.pt"):
        match = re.fullmatch(r"checkpoint_(\d+)\.pt", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_training_checkpoint(run_dir: Path, model: nn.Module, step: int, extra: dict[str, Any]) -> Path:
    """Write ``checkpoint_<step>.pt`` and refresh ``checkpoint_last.pt``, both atomically."""
    from emorl_eval.models.checkpoints import save_checkpoint

    path = run_dir / checkpoint_name(step)
    save_checkpoint(path, model, step, extra=extra)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{LAST}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, run_dir / LAST)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_training_checkpoint(run_dir: Path) -> dict[str, Any]:
    """Read ``run_dir/checkpoint_last.pt`` and check it carries the trainer state."""
    from emorl_eval.models.checkpoints import read_checkpoint

    path = run_dir / LAST
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: nothing to resume (no {LAST})")
    ckpt = read_checkpoint(path)
    extra = ckpt.get("extra") or {}
    missing = [k for k in ("train_config", "optimizer", "rng", "position") if k not in extra]
    if missing:
        raise CheckpointError(f"{path}: not a training checkpoint (missing {', '.join(missing)})")
    return ckpt
