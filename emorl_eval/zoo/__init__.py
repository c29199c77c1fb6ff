"""The model zoo: trained checkpoints shipped with emorl-eval, addressed as ``zoo:NAME``.

Each entry is a folder ``emorl_eval/zoo/NAME/`` laid out like a run folder, so every command and
``ablation-table`` read it unchanged:

* ``checkpoint.pt``: weights and config only (no optimiser state), ``torch.load(weights_only=True)``;
* ``config.json``: the training run's ``config.json`` (model, preset, every hyper-parameter);
* ``card.json`` / ``MODEL_CARD.md``: the model card: exact training command, steps, wall time and
  machine, the commit, and the evaluation numbers measured on this very checkpoint;
* ``eval/per_image.csv``, ``eval/summary.csv``: that evaluation (``emorl-eval evaluate``).

A renamed entry lists its old names in the card's ``previous_names``; they keep resolving.

    >>> from emorl_eval import zoo
    >>> zoo.names()                                     # ['emorl-tetrominoes-geco-s1', ...]
    >>> zoo.resolve("zoo:emorl-tetrominoes-nogeco-s1")  # Path(.../zoo/emorl-tetrominoes-nogeco-s1/checkpoint.pt)

Extra zoo folders (e.g. a lab's own) can be listed in ``EMORL_EVAL_ZOO_PATH`` (``os.pathsep``
separated); the shipped one is searched last. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emorl_eval.errors import CheckpointError

#: prefix that marks a zoo name wherever a checkpoint path is accepted
PREFIX = "zoo:"
#: the zoo shipped inside the package
SHIPPED_ROOT = Path(__file__).resolve().parent
CHECKPOINT_FILE = "checkpoint.pt"
CARD_FILE = "card.json"
CARD_MARKDOWN = "MODEL_CARD.md"
#: environment variable with extra zoo folders
PATH_VARIABLE = "EMORL_EVAL_ZOO_PATH"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its name, folder and model card (``card.json`` as a dict)."""

    name: str
    folder: Path
    card: dict[str, Any]

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    def metric(self, key: str) -> float:
        """A number of the card's evaluation (NaN when absent)."""
        value = (self.card.get("evaluation") or {}).get(key)
        return float(value) if value is not None else float("nan")


def roots() -> list[Path]:
    """Zoo folders searched, in order: ``$EMORL_EVAL_ZOO_PATH`` entries, then the shipped zoo."""
    extra = [Path(p) for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p.strip()]
    return [*extra, SHIPPED_ROOT]


def entries() -> list[ZooEntry]:
    """Every zoo model (first root wins for a name found twice), sorted by name."""
    found: dict[str, ZooEntry] = {}
    for root in roots():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            card_file = folder / CARD_FILE
            if folder.name in found or not (folder / CHECKPOINT_FILE).is_file() or not card_file.is_file():
                continue
            try:
                card = json.loads(card_file.read_text())
            except (OSError, ValueError) as err:
                raise CheckpointError(f"zoo model card {card_file} is unreadable ({err})") from None
            found[folder.name] = ZooEntry(folder.name, folder, card)
    return [found[name] for name in sorted(found)]


def names() -> list[str]:
    """Names of the zoo models."""
    return [entry.name for entry in entries()]


def is_zoo_spec(value: str | os.PathLike) -> bool:
    """Whether ``value`` is a ``zoo:NAME`` reference."""
    return str(value).startswith(PREFIX)


def entry(name: str) -> ZooEntry:
    """The zoo model ``name`` (with or without ``zoo:``); unknown -> one-line CheckpointError."""
    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    known = entries()
    for candidate in known:
        if candidate.name == name:
            return candidate
    for candidate in known:  # a renamed entry answers to its old names (card "previous_names")
        if name in (candidate.card.get("previous_names") or []):
            return candidate
    listing = ", ".join(e.name for e in known) or "none (the zoo is empty)"
    raise CheckpointError(f"unknown zoo model {name!r}; known: {listing} (emorl-eval zoo list)")


def resolve(value: str | os.PathLike) -> Path:
    """``zoo:NAME`` -> the entry's checkpoint file; any other value is returned as a Path."""
    if is_zoo_spec(value):
        return entry(str(value)).checkpoint
    return Path(value)


def zoo_entry_of(path: str | os.PathLike) -> ZooEntry | None:
    """The zoo entry whose checkpoint ``path`` is (None for any other file)."""
    path = Path(path).resolve()
    for candidate in entries():
        if candidate.checkpoint.resolve() == path:
            return candidate
    return None


def local_run_folder(path: str | os.PathLike, root: str | os.PathLike = "runs/zoo") -> Path | None:
    """For a zoo checkpoint: ``root/NAME`` (created, with a copy of the entry's ``config.json``
    and a link ``checkpoint.pt`` to its weights),
    where results computed from it go by default; the shipped folder itself is never written.
    None for a checkpoint that is not a zoo entry."""
    found = zoo_entry_of(path)
    if found is None:
        return None
    folder = Path(root) / found.name
    folder.mkdir(parents=True, exist_ok=True)
    config = found.folder / "config.json"
    if config.is_file() and not (folder / "config.json").is_file():
        (folder / "config.json").write_text(config.read_text())
    link = folder / CHECKPOINT_FILE
    if not link.exists():
        try:  # a link to the shipped weights, so the folder is a complete run folder for `report`
            link.symlink_to(found.checkpoint.resolve())
        except OSError:
            import shutil

            shutil.copyfile(found.checkpoint, link)
    return folder
