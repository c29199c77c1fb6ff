"""The worked plug-in example (examples/my_model, a soft K-means model in its own package) goes
through check-model, train, evaluate, dci and symmetry unchanged: by import spec (no install) and,
where the package is installed (CI installs it), by its entry point name."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval import models
from tests.cli_run import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_model"
SPEC = "my_model.kmeans:SoftKMeans"


@pytest.fixture(autouse=True)
def _example_importable(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))  # what PYTHONPATH=examples/my_model does


def _invoke(capsys, argv: list[str]) -> tuple[int, str, str]:
    return run_cli(argv, capsys)


def _installed() -> bool:
    found = "kmeans" in {ep.name for ep in entry_points(group=models.ENTRY_POINT_GROUP)}
    if not found and os.environ.get("EMORL_EVAL_REQUIRE_EXAMPLE"):
        pytest.fail("examples/my_model is not installed (pip install -e examples/my_model)")
    return found


@pytest.mark.parametrize("model", [SPEC, "kmeans"])
def test_the_example_goes_through_every_command(model: str, capsys, tmp_path: Path, tiny_h5: Path) -> None:
    if model == "kmeans" and not _installed():
        pytest.skip("examples/my_model not installed")
    code, out, err = _invoke(capsys, ["check-model", model])
    assert code == 0, out + err

    run = tmp_path / "run"
    code, _, err = _invoke(capsys, ["train", "--model", model, "--data", str(tiny_h5), "--out", str(run),
                                    "--steps", "12", "--batch-size", "4", "--log-every", "4", "--no-progress"])
    assert code == 0, err
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["step"].tolist() == [4, 8, 12]
    ckpt = torch.load(run / "checkpoint_last.pt", weights_only=True)
    assert ckpt["plugin"] == SPEC and ckpt["step"] == 12  # loads again without the entry point

    code, _, err = _invoke(capsys, ["evaluate", "--ckpt", str(run), "--data", str(tiny_h5), "--num", "8",
                                    "--out", str(tmp_path / "eval")])
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "eval" / "summary.csv").set_index("metric")
    assert 0.0 <= float(summary.loc["ari_fg", "mean"]) <= 1.0

    code, _, err = _invoke(capsys, ["dci", "--ckpt", str(run), "--data", str(tiny_h5), "--num", "8",
                                    "--protocol", "regression", "--n-jobs", "1", "--no-progress",
                                    "--out", str(tmp_path / "dci"), "--figure", str(tmp_path / "dci.png")])
    assert code == 0, err
    dci = pd.read_csv(tmp_path / "dci" / "dci.csv")
    assert dci["num_active_dims"].iloc[0] <= 6 and 0 <= dci["disentanglement"].iloc[0] <= 1

    code, out, err = _invoke(capsys, ["symmetry", "--ckpt", str(run), "--out", str(tmp_path / "sym")])
    assert code == 0, out + err
    table = pd.read_csv(next((tmp_path / "sym").glob("symmetry_*.csv")))
    assert set(table["component"]) == {"clustering", "decoder", "pixel_set"} and table["passed"].all()

    code, out, err = _invoke(capsys, ["check-model", "--ckpt", str(run / "checkpoint_last.pt")])
    assert code == 0, out + err


@pytest.mark.slow
def test_training_the_example_improves_its_segmentation(capsys, tmp_path: Path) -> None:
    """1,000 steps on 600 built-in Tetrominoes: FG-ARI and MSE on 100 held-out images beat the
    initial weights (measured on 20K images and 1,000 steps: FG-ARI 0.40 -> 0.50, MSE 0.021 -> 0.007;
    examples/my_model/README.md)."""
    from emorl_eval.data import generate_h5
    from emorl_eval.models.checkpoints import save_checkpoint

    data = generate_h5(tmp_path / "tetro.h5", "tetrominoes", num=700, seed=0, test_fraction=1 / 7)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "init" / "checkpoint_last.pt", models.build(SPEC), step=0)
    code, _, err = _invoke(capsys, ["train", "--model", SPEC, "--data", str(data), "--out", str(tmp_path / "run"),
                                    "--steps", "1000", "--seed", "0", "--no-progress"])
    assert code == 0, err
    scores = {}
    for name in ("init", "run"):
        code, _, err = _invoke(capsys, ["evaluate", "--ckpt", str(tmp_path / name), "--data", str(data),
                                        "--num", "100"])
        assert code == 0, err
        scores[name] = pd.read_csv(tmp_path / name / "eval" / "summary.csv").set_index("metric")["mean"]
    assert scores["run"]["ari_fg"] > scores["init"]["ari_fg"] + 0.05, scores
    assert scores["run"]["mse"] < 0.7 * scores["init"]["mse"], scores
