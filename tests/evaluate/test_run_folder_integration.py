"""`evaluate` output in a run folder is what `ablation-table` reads (discover_runs)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from emorl_eval import cli
from emorl_eval.data import generate_h5
from emorl_eval.reports.runs import discover_runs

from emorl_eval import models
import emorl_eval.models.checkpoints as checkpoints


def test_ablation_discovery_reads_evaluate_output(tmp_path, capsys) -> None:
    data = generate_h5(tmp_path / "t.h5", "tetrominoes", num=8, seed=0, test_fraction=0.5)
    run_dir = tmp_path / "runs" / "tetro_s3"
    torch.manual_seed(0)
    model = models.build("emorl", preset="tetrominoes", num_slots=4, latent_dim=8, num_layers=2, refinement_steps=0)
    checkpoints.save_checkpoint(run_dir / "checkpoint_last.pt", model, step=5)
    (run_dir / "config.json").write_text(json.dumps({"model": "emorl", "preset": "tetrominoes", "seed": 3,
                                                     "data": str(data)}))
    cli.main(["evaluate", "--ckpt", str(run_dir), "--data", str(data), "--num", "2", "--no-progress"])
    capsys.readouterr()
    per_image = pd.read_csv(run_dir / "eval" / "per_image.csv")
    runs = discover_runs(tmp_path / "runs").runs
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["seed"] == 3 and row["n_images"] == 2 and row["dataset"] == "tetrominoes"
    assert row["ari"] == pytest.approx(per_image["ari_fg"].mean())
    assert row["mse"] == pytest.approx(per_image["mse"].mean())
    assert row["kl"] == pytest.approx(per_image["kl"].mean())
