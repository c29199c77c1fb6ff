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


def _curve(steps, fg):
    import pandas as pd

    return pd.DataFrame({"step": steps, "minutes": [0.0] * len(steps), "ari_fg": fg, "ari_all": fg,
                         "mse": [0.01] * len(steps), "kl": [1.0] * len(steps), "num": [100] * len(steps)})


def _child(tmp_path: Path, name: str, parent: str, step: int, modules=None) -> Path:
    run = tmp_path / name
    run.mkdir()
    lineage = {"parent": parent, "parent_steps": step, "parent_cumulative_minutes": 0.0}
    if modules:
        lineage["init_modules"] = modules
    (run / "config.json").write_text(json.dumps({"lineage": lineage}))
    return run


def test_a_chain_takes_each_folder_up_to_where_the_next_branched(learning_curve, tmp_path: Path) -> None:
    first = tmp_path / "geco_s2"
    first.mkdir()
    # the second folder branched at 1,500 from a checkpoint file; the third from the folder at 2,500
    second = _child(tmp_path, "decay", "elsewhere/geco_s2/checkpoint_0001500.pt", 1500)
    third = _child(tmp_path, "more", str(second), 2500)
    curves = {first: _curve([1000, 1500, 2000, 2500], [0.1, 0.2, 0.3, 0.4]),
              second: _curve([1500, 2000, 2500, 3000], [0.2, 0.5, 0.6, 0.7]),
              third: _curve([2500, 3000], [0.6, 0.9])}
    chain = learning_curve.chain_curve([first, second, third], curves)
    assert chain["step"].tolist() == [1000, 1500, 2000, 2500, 3000]
    assert chain["ari_fg"].tolist() == [0.1, 0.2, 0.5, 0.6, 0.9]  # the branch's own rows from 1,500 on
    assert chain["run"].tolist() == ["geco_s2", "decay", "decay", "more", "more"]
    with pytest.raises(ValueError, match="does not continue"):
        learning_curve.chain_curve([second, first], curves)  # wrong order
    other = _child(tmp_path, "other", str(first), 1500, modules=["decoder"])
    with pytest.raises(ValueError, match="does not continue"):  # another model's modules: not a continuation
        learning_curve.branch_step(other, first)


def test_markdown_table_has_a_cell_per_curve_and_step(learning_curve) -> None:
    table = learning_curve.markdown_table({"a": _curve([500, 1000, 2000], [0.1, 0.2, 0.3]),
                                           "b": _curve([1000, 1500], [0.25, 0.35])}, 1000)
    assert table.splitlines() == [
        "| step | a FG-ARI / MSE | b FG-ARI / MSE |",
        "|---|---|---|",
        "| 1,000 | 0.200 / 0.0100 | 0.250 / 0.0100 |",
        "| 2,000 | 0.300 / 0.0100 | - |",
    ]
