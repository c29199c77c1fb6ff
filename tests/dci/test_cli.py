"""`emorl-eval dci` end to end on a tiny EfficientMORL and a tiny Tetrominoes file."""

from __future__ import annotations

from pathlib import Path

import h5py
import pandas as pd
import pytest
import torch

from tests.cli_run import run_cli
from emorl_eval import models
from emorl_eval.models.checkpoints import save_checkpoint

TINY = dict(num_slots=4, latent_dim=6, num_layers=2, refinement_steps=1)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = models.build("emorl", preset="tetrominoes", **TINY)
    return save_checkpoint(tmp_path_factory.mktemp("run") / "checkpoint.pt", model, step=7)


def run(args: list[str], capsys) -> tuple[int, str, str]:
    return run_cli(args, capsys)


def test_dci_writes_its_files_and_is_deterministic(tiny_ckpt, tiny_h5, tmp_path, capsys) -> None:
    base = ["dci", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "4", "--protocol", "regression",
            "--n-jobs", "1", "--no-progress", "--batch-size", "4"]
    code, out, err = run(base + ["--out", str(tmp_path / "a"), "--figure", str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    runs = pd.read_csv(tmp_path / "a" / "dci.csv")
    assert len(runs) == 1
    for col in ("disentanglement", "completeness", "informativeness_train", "informativeness_test",
                "informativeness_test_x", "informativeness_test_color", "mean_matched_iou", "num_pairs",
                "num_active_dims"):
        assert col in runs.columns
    assert runs["num_pairs"].iloc[0] == 4 * 3  # 3 visible tetrominoes per image, K=4 >= 3
    assert 0 <= runs["mean_matched_iou"].iloc[0] <= 1 and runs["checkpoint_step"].iloc[0] == 7
    importance = pd.read_csv(tmp_path / "a" / "importance.csv")
    assert len(importance) == TINY["latent_dim"] and {"x", "y", "shape", "color", "active"} <= set(importance)
    assert (tmp_path / "a.png").stat().st_size > 0
    assert "Disentanglement" in out and "Informativeness" in (tmp_path / "a" / "dci.md").read_text()
    code, _, err = run(base + ["--out", str(tmp_path / "b"), "--figure", str(tmp_path / "b.png")], capsys)
    assert code == 0, err
    assert (tmp_path / "a" / "dci.csv").read_text() == (tmp_path / "b" / "dci.csv").read_text()


def test_seeds_aggregate_into_mean_and_std(tiny_ckpt, tiny_h5, tmp_path, capsys) -> None:
    code, out, err = run(["dci", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5),
                          "--num", "4", "--seeds", "1,2", "--protocol", "regression", "--n-jobs", "1", "--masks-from", "latents",
                          "--no-progress", "--out", str(tmp_path), "--figure", str(tmp_path / "f.png")], capsys)
    assert code == 0, err
    runs = pd.read_csv(tmp_path / "dci.csv")
    assert runs["seed"].tolist() == [1, 2] and runs["masks_from"].eq("latents").all()
    summary = pd.read_csv(tmp_path / "dci_summary.csv")
    assert summary["n_runs"].tolist() == [2]
    assert summary["completeness_std"].iloc[0] == pytest.approx(runs["completeness"].std(ddof=1))
    assert " ± " in out


def test_bad_inputs_fail_with_one_line(tiny_ckpt, tiny_h5, tmp_path, capsys) -> None:
    official = tmp_path / "official.pth"
    torch.save({"model": {"module.geco_beta": torch.zeros(1)}, "step": 1}, official)
    code, _, err = run(["dci", "--ckpt", str(official), "--data", str(tiny_h5), "--no-progress"], capsys)
    assert code == 2 and "without a config" in err and len(err.strip().splitlines()) == 1

    bare = tmp_path / "bare.h5"
    bare.write_bytes(Path(tiny_h5).read_bytes())
    with h5py.File(bare, "a") as h:
        for key in list(h.attrs):
            del h.attrs[key]
        del h["test/factors"], h["train/factors"]
    code, _, err = run(["dci", "--ckpt", str(tiny_ckpt), "--data", str(bare), "--no-progress",
                        "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "no ground-truth object factors" in err and len(err.strip().splitlines()) == 1
