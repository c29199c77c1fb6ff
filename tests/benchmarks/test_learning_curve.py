"""benchmarks/learning_curve.py: the first row of a continued run is its parent's checkpoint (not for
a run started from some of another run's modules)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def learning_curve():
    spec = importlib.util.spec_from_file_location("learning_curve", REPO / "benchmarks" / "learning_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parent_checkpoint_of_a_run_folder_is_the_one_of_the_parent_step(learning_curve, tmp_path: Path) -> None:
    """The parent folder may have trained on after the child started: its latest is not the parent."""
    run = tmp_path / "parent"
    run.mkdir()
    for name in ("checkpoint_0000002.pt", "checkpoint_0000004.pt", "checkpoint_last.pt"):
        (run / name).write_bytes(b"x")
    assert learning_curve.parent_checkpoint(run, 2) == run / "checkpoint_0000002.pt"
    assert learning_curve.parent_checkpoint(run, 3) == run / "checkpoint_last.pt"  # step not kept: the latest
    assert learning_curve.parent_checkpoint(run / "checkpoint_0000004.pt", 2) == run / "checkpoint_0000004.pt"


def test_the_parent_row_is_that_of_a_continued_run_only(learning_curve, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "checkpoint_0000006.pt").write_bytes(b"x")
    lineage = {"parent": str(parent), "parent_steps": 6, "parent_cumulative_minutes": 1.5}
    run = tmp_path / "child"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"lineage": lineage}))
    assert learning_curve.parent_row(run) == (6, parent / "checkpoint_0000006.pt", 1.5)
    (run / "config.json").write_text(json.dumps({"lineage": {**lineage, "init_modules": ["decoder"], "start_step": 0}}))
    assert learning_curve.parent_row(run) is None
    (run / "config.json").write_text(json.dumps({"lineage": None}))
    assert learning_curve.parent_row(run) is None
