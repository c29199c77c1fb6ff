"""The demo (README main job): step order, resume, exit statuses, and a small real run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cli import main
from emorl_eval.demo import DemoPlan, run_demo

VERBS = ["data", "train", "evaluate", "refine-sweep", "dci", "symmetry", "report"]


def _recorder(statuses: dict[str, int] | None = None):
    calls: list[list[str]] = []

    def invoke(argv: list[str]) -> int:
        calls.append(argv)
        return (statuses or {}).get(argv[0], 0)

    return calls, invoke


def test_runs_every_step_in_order_on_the_planned_files(tmp_path: Path) -> None:
    calls, invoke = _recorder()
    plan = DemoPlan(out=tmp_path, steps=7, batch_size=3)
    assert run_demo(plan, invoke, lambda s: None) == 0
    assert [c[0] for c in calls] == VERBS
    train = calls[1]
    assert train[train.index("--steps") + 1] == "7" and "--resume" not in train
    assert all(str(plan.checkpoint) in c for c in calls[2:6])
    assert str(plan.data_file) in calls[0] and str(plan.data_file) in calls[-1]


def test_training_resumes_when_the_run_has_a_checkpoint(tmp_path: Path) -> None:
    plan = DemoPlan(out=tmp_path)
    plan.checkpoint.parent.mkdir(parents=True)
    plan.checkpoint.write_bytes(b"x")
    calls, invoke = _recorder()
    run_demo(plan, invoke, lambda s: None)
    assert "--resume" in calls[1]


def test_a_failing_step_stops_the_demo_but_a_symmetry_violation_does_not(tmp_path: Path) -> None:
    calls, invoke = _recorder({"evaluate": 2})
    assert run_demo(DemoPlan(out=tmp_path), invoke, lambda s: None) == 2
    assert [c[0] for c in calls] == VERBS[:3]

    calls, invoke = _recorder({"symmetry": 1})
    assert run_demo(DemoPlan(out=tmp_path), invoke, lambda s: None) == 1
    assert [c[0] for c in calls] == VERBS


def test_small_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README command at toy size: every step runs for real and writes its files."""
    main(["demo", "--out", str(tmp_path), "--num-images", "60", "--steps", "2", "--batch-size", "2",
          "--eval-images", "4"])  # a non-zero exit would raise SystemExit and fail the test
    run = tmp_path / "runs" / "emorl_tetrominoes_s1"
    per_image = pd.read_csv(run / "eval" / "per_image.csv")
    assert len(per_image) == 4 and per_image["mse"].notna().all()
    assert (run / "dci" / "dci.csv").is_file()
    assert (tmp_path / "reports" / "README.md").is_file()
    assert (tmp_path / "reports" / "figures" / f"refine_sweep_{run.name}.png").stat().st_size > 0
    assert "all properties hold" in capsys.readouterr().out
