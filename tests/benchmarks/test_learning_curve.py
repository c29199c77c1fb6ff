"""benchmarks/learning_curve.py: the first row of a continued run is its parent's checkpoint."""

from __future__ import annotations

import importlib.util
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
