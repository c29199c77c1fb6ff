"""The demo (README main job): step order, working folder, resume, exit statuses, and a small
real run on a temporary zoo of briefly trained models."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from emorl_eval.cli import main
from emorl_eval import zoo
from emorl_eval.demo import DEMO_DATA_SEED, DemoPlan, run_demo

PLAN = dict(emorl=("emorl-a-s1", "emorl-a-s2"), peers=("slot-attention-a-s1", "genesis-a-s1"))


def _recorder(statuses: dict[str, int] | None = None):
    calls: list[tuple[str, list[str]]] = []

    def invoke(argv: list[str]) -> int:
        calls.append((os.getcwd(), argv))
        return (statuses or {}).get(argv[0], 0)

    return calls, invoke


def test_runs_every_step_in_order_inside_the_output_folder(tmp_path: Path) -> None:
    calls, invoke = _recorder()
    plan = DemoPlan(out=tmp_path, steps=7, batch_size=3, **PLAN)
    assert run_demo(plan, invoke, lambda s: None) == 0
    verbs = [argv[0] for _, argv in calls]
    assert verbs == ["data", "train", "evaluate"] + ["evaluate"] * 4 + [
        "refine-sweep", "dci", "symmetry", "figures", "leakage", "leakage", "leakage-compare", "report"]
    assert all(cwd == str(tmp_path) for cwd, _ in calls) and os.getcwd() != str(tmp_path)
    data = calls[0][1]
    assert data[data.index("--seed") + 1] == str(DEMO_DATA_SEED)  # never the zoo's training seed 0
    train = calls[1][1]
    assert train[train.index("--steps") + 1] == "7" and "--resume" not in train
    evaluated = [argv[argv.index("--ckpt") + 1] for _, argv in calls if argv[0] == "evaluate"][1:]
    assert evaluated == [f"zoo:{n}" for n in (*PLAN["emorl"], *PLAN["peers"])]
    dci = next(argv for _, argv in calls if argv[0] == "dci")
    assert [dci[i + 1] for i, a in enumerate(dci) if a == "--ckpt"] == ["zoo:emorl-a-s1", "zoo:emorl-a-s2"]
    symmetry = next(argv for _, argv in calls if argv[0] == "symmetry")
    assert "zoo:emorl-a-s1" in symmetry and "--generic-weights" not in symmetry
    leaked = [argv[argv.index("--ckpt") + 1] for _, argv in calls if argv[0] == "leakage"]
    assert leaked == ["zoo:emorl-a-s1", "zoo:genesis-a-s1"]
    compared = next(argv for _, argv in calls if argv[0] == "leakage-compare")
    assert [compared[i + 1] for i, a in enumerate(compared) if a == "--ckpt"] == [
        f"zoo:{n}" for n in (*PLAN["emorl"], *PLAN["peers"])]  # every zoo model, one table


def test_training_resumes_when_the_run_has_a_checkpoint(tmp_path: Path) -> None:
    plan = DemoPlan(out=tmp_path, **PLAN)
    (tmp_path / plan.checkpoint).parent.mkdir(parents=True)
    (tmp_path / plan.checkpoint).write_bytes(b"x")
    calls, invoke = _recorder()
    run_demo(plan, invoke, lambda s: None)
    assert "--resume" in calls[1][1]


def test_a_failing_step_stops_the_demo_but_a_symmetry_violation_does_not(tmp_path: Path) -> None:
    calls, invoke = _recorder({"evaluate": 2})
    assert run_demo(DemoPlan(out=tmp_path, **PLAN), invoke, lambda s: None) == 2
    assert [argv[0] for _, argv in calls] == ["data", "train", "evaluate"]

    calls, invoke = _recorder({"symmetry": 1})
    assert run_demo(DemoPlan(out=tmp_path, **PLAN), invoke, lambda s: None) == 1
    assert [argv[0] for _, argv in calls][-1] == "report"


def test_without_zoo_models_the_reports_use_the_short_run(tmp_path: Path) -> None:
    calls, invoke = _recorder()
    plan = DemoPlan(out=tmp_path)
    assert run_demo(plan, invoke, lambda s: None) == 0
    verbs = [argv[0] for _, argv in calls]
    assert verbs == ["data", "train", "evaluate", "refine-sweep", "dci", "symmetry", "figures", "leakage", "report"]
    for _, argv in calls[2:-1]:
        assert argv[argv.index("--ckpt") + 1] == str(plan.checkpoint)


@pytest.fixture(scope="module")
def toy_zoo(tmp_path_factory) -> Path:
    """EfficientMORL and GENESIS trained for 2 steps each, packaged as a temporary zoo."""
    from emorl_eval.data import generate_h5
    from emorl_eval.training import resolve_train_config, train
    from emorl_eval.zoo.packaging import add_run

    base = tmp_path_factory.mktemp("toyzoo")
    data = generate_h5(base / "t.h5", "tetrominoes", num=24, seed=0, test_fraction=0.25)
    root = base / "zoo"
    for model, name in (("emorl", "emorl-toy-s1"), ("genesis", "genesis-toy-s1")):
        run = base / name
        train(resolve_train_config(model, data, run, "tetrominoes_cpu", steps=2, batch_size=2, device="cpu",
                                   progress=False))
        add_run(run, name, data, num=4, root=root)
    return root


def test_small_demo_end_to_end(toy_zoo: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """The README command at toy size on a toy zoo: every step runs for real and writes its files."""
    monkeypatch.setattr(zoo, "SHIPPED_ROOT", toy_zoo)
    monkeypatch.delenv(zoo.PATH_VARIABLE, raising=False)
    main(["demo", "--out", str(tmp_path), "--num-images", "60", "--steps", "2", "--batch-size", "2",
          "--eval-images", "4"])  # a non-zero exit would raise SystemExit and fail the test
    out = capsys.readouterr().out
    for name in ("emorl-toy-s1", "genesis-toy-s1"):
        per_image = pd.read_csv(tmp_path / "runs" / "zoo" / name / "eval" / "per_image.csv")
        assert len(per_image) == 4 and per_image["ari_fg"].notna().all()
    assert (tmp_path / "reports" / "dci" / "emorl_tetrominoes" / "dci.csv").is_file()
    assert (tmp_path / "reports" / "README.md").is_file()
    assert (tmp_path / "reports" / "figures" / "refine_sweep_emorl-toy-s1.png").stat().st_size > 0
    assert (tmp_path / "reports" / "figures" / "emorl-toy-s1_decompose.png").stat().st_size > 0
    assert "Zoo models on held-out Tetrominoes (FG-ARI, MSE):" in out and "zoo:emorl-toy-s1" in out
    assert not (toy_zoo / "emorl-toy-s1" / "eval" / "refine_sweep.csv").exists()  # the zoo is read-only
    # the report opens with the headline numbers of every evaluated run, linked to their files
    readme = (tmp_path / "reports" / "README.md").read_text()
    results = readme.split("## Results", 1)[1].split("\n## ", 1)[0]
    emorl_row = next(line for line in results.splitlines() if line.startswith("| emorl-toy-s1 |"))
    cells = [c.strip() for c in emorl_row.strip("|").split("|")]
    assert cells[1:4] == ["emorl", "tetrominoes_cpu", "2"]
    assert "(../runs/zoo/emorl-toy-s1/eval/per_image.csv)" in cells[4]
    assert "dci/emorl_tetrominoes/dci.csv" in cells[8]  # D
    assert "leakage/emorl-toy-s1.csv" in cells[11] and "symmetry/" in cells[12]
    assert "genesis-toy-s1" in results and "emorl_tetrominoes_cpu_short" in results
    # every zoo model's leakage, measured on the same images, printed beside its FG-ARI and MSE
    comparison = pd.read_csv(tmp_path / "reports" / "leakage" / "zoo_comparison.csv")
    assert comparison["label"].tolist() == ["zoo:emorl-toy-s1", "zoo:genesis-toy-s1"]
    for label, leak in zip(comparison["label"], comparison["leakage"]):
        line = next(row for row in out.splitlines() if row.strip().startswith(label + " "))
        assert "FG-ARI" in line and "MSE" in line
        assert ("leakage n/a" if leak != leak else f"leakage {leak:.2f}") in line
    genesis_row = next(line for line in results.splitlines() if line.startswith("| genesis-toy-s1 |"))
    assert "leakage/" in genesis_row  # the report's results table links a leakage file for every zoo model
