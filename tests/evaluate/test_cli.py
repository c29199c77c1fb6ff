"""`emorl-eval evaluate` / `refine-sweep` end to end on a tiny EfficientMORL and a tiny file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.cli_run import run_cli
from emorl_eval.evaluate import ID_COLUMNS, METRIC_COLUMNS

from emorl_eval import models
import emorl_eval.models.checkpoints as checkpoints

TINY = dict(num_slots=4, latent_dim=8, num_layers=2, refinement_steps=1)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = models.build("emorl", preset="tetrominoes", **TINY)
    return checkpoints.save_checkpoint(tmp_path_factory.mktemp("run") / "checkpoint.pt", model, step=123)


def run(args: list[str], capsys) -> tuple[int, str, str]:
    return run_cli(args, capsys)


def test_evaluate_writes_documented_files_and_is_deterministic(tiny_ckpt, tiny_h5, tmp_path, capsys) -> None:
    args = ["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "3", "--batch-size", "2",
            "--no-progress"]
    code, out, err = run(args + ["--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    per_image = pd.read_csv(tmp_path / "a" / "per_image.csv")
    assert list(per_image.columns) == list(ID_COLUMNS) + list(METRIC_COLUMNS)
    assert len(per_image) == 3
    assert per_image["model"].eq("emorl").all() and per_image["checkpoint_step"].eq(123).all()
    assert per_image["refinement_steps"].eq(1).all()  # the config's I
    assert per_image[["ari_fg", "ari_all", "mse", "kl", "msc", "mbo"]].notna().all().all()
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    assert {"metric", "label", "mean", "std", "n"} <= set(summary.columns)
    assert {"ari_fg", "ari_all", "mse", "kl", "msc", "mbo"} <= set(summary["metric"])
    assert "ARI (fg)" in out and "mean ± std" in out
    assert "| ARI (fg) |" in (tmp_path / "a" / "summary.md").read_text()

    code, _, err = run(args + ["--out", str(tmp_path / "b"), "--refinement-steps", "1"], capsys)
    assert code == 0, err
    for name in ("per_image.csv", "summary.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_evaluate_default_out_is_beside_the_checkpoint(tiny_ckpt, tiny_h5, capsys) -> None:
    code, _, err = run(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "2",
                        "--refinement-steps", "0", "--no-progress"], capsys)
    assert code == 0, err
    df = pd.read_csv(tiny_ckpt.parent / "eval" / "per_image.csv")
    assert df["refinement_steps"].eq(0).all()


def test_refine_sweep_writes_csv_and_figure(tiny_ckpt, tiny_h5, tmp_path, capsys) -> None:
    fig = tmp_path / "figs" / "sweep.png"
    code, out, err = run(["refine-sweep", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "3",
                          "--steps", "0,2", "--out", str(tmp_path), "--figure", str(fig), "--no-progress"], capsys)
    assert code == 0, err
    long = pd.read_csv(tmp_path / "refine_sweep.csv")
    assert {"refinement_steps", "image_index", "metric", "value"} <= set(long.columns)
    assert sorted(long["refinement_steps"].unique()) == [0, 2]
    assert len(long) == 2 * 3 * len(METRIC_COLUMNS)
    assert fig.is_file()
    assert "ari_fg" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ckpt", "missing.pt"], "missing.pt"),
        (["--data", "missing.h5"], "missing.h5"),
        (["--split", "nope"], "nope"),
    ],
)
def test_bad_inputs_are_one_line_errors(tiny_ckpt, tiny_h5, tmp_path, capsys, extra, message) -> None:
    base = {"--ckpt": str(tiny_ckpt), "--data": str(tiny_h5)}
    base.update(dict(zip(extra[::2], extra[1::2])))
    args = ["evaluate", "--no-progress", "--out", str(tmp_path)] + [x for kv in base.items() for x in kv]
    code, out, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in err


def test_wrong_image_size_and_bad_steps(tmp_path, tiny_h5, capsys) -> None:
    model = models.build("emorl", preset="tetrominoes", image_size=(32, 32), **TINY)
    ckpt = checkpoints.save_checkpoint(tmp_path / "small.pt", model, step=0)
    code, _, err = run(["evaluate", "--ckpt", str(ckpt), "--data", str(tiny_h5), "--no-progress"], capsys)
    assert code == 2 and "35x35 images but the model expects 32x32" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(["refine-sweep", "--ckpt", str(ckpt), "--data", str(tiny_h5), "--steps", "a,b"], capsys)
    assert code == 2 and "comma-separated integers" in err


def test_run_folder_as_checkpoint(tmp_path, tiny_h5, capsys) -> None:
    run_dir = tmp_path / "run"
    model = models.build("emorl", preset="tetrominoes", **TINY)
    checkpoints.save_checkpoint(run_dir / "checkpoint_0000010.pt", model, step=10)
    checkpoints.save_checkpoint(run_dir / "checkpoint_0000020.pt", model, step=20)
    code, _, err = run(["evaluate", "--ckpt", str(run_dir), "--data", str(tiny_h5), "--num", "1", "--no-progress"],
                       capsys)
    assert code == 0, err
    assert pd.read_csv(run_dir / "eval" / "per_image.csv")["checkpoint_step"].eq(20).all()
    code, _, err = run(["evaluate", "--ckpt", str(tmp_path), "--data", str(tiny_h5)], capsys)
    assert code == 2 and "holds no checkpoint" in err


@pytest.mark.parametrize("files, expected", [
    (["model.ckpt-1000", "model.ckpt-FINAL", "model.ckpt-latest"], "model.ckpt-FINAL"),
    (["model.ckpt-1000", "model.ckpt-latest"], "model.ckpt-latest"),
    (["model.ckpt-900", "model.ckpt-10000", "model.ckpt-2000"], "model.ckpt-10000"),  # by number, not name
    (["1/model.ckpt-FINAL", "2/model.ckpt-500", "10/model.ckpt-latest", "11/notes.txt"], "10/model.ckpt-latest"),
])
def test_official_genesis_run_folder_resolves_to_its_newest_checkpoint(tmp_path, files, expected) -> None:
    """The official trainer writes checkpoints/<run>/<n>/model.ckpt-<iter>|-latest|-FINAL: either
    folder names its newest checkpoint (the highest <n> that holds one)."""
    from emorl_eval.errors import CheckpointError
    from emorl_eval.evaluate import resolve_checkpoint

    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert resolve_checkpoint(tmp_path) == tmp_path / expected
    (tmp_path / "empty" / "3").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="nor an official model.ckpt"):
        resolve_checkpoint(tmp_path / "empty")


def test_official_checkpoint_needs_and_uses_a_preset(shared_dir, tiny_h5, tmp_path, capsys) -> None:
    ckpt = shared_dir / "fixtures" / "official_format_emorl_tetrominoes_init.pth"
    base = ["evaluate", "--ckpt", str(ckpt), "--data", str(tiny_h5), "--num", "2", "--refinement-steps", "0",
            "--out", str(tmp_path), "--no-progress"]
    code, _, err = run(base, capsys)
    assert code == 2 and "give a preset" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(base + ["--preset", "tetrominoes"], capsys)
    assert code == 0, err
    df = pd.read_csv(tmp_path / "per_image.csv")
    assert df["preset"].eq("tetrominoes").all() and df["model"].eq("emorl").all()


def test_every_csv_names_its_checkpoint_and_hash(tiny_ckpt, tiny_h5, tmp_path, capsys) -> None:
    import hashlib

    sha = hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    code, _, err = run(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "2", "--no-progress",
                        "--out", str(tmp_path / "e")], capsys)
    assert code == 0, err
    for name in ("per_image.csv", "summary.csv"):
        table = pd.read_csv(tmp_path / "e" / name)
        assert (table["checkpoint"] == str(tiny_ckpt)).all() and (table["checkpoint_sha256"] == sha).all(), name
    code, _, err = run(["dci", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "4", "--protocol",
                        "regression", "--n-jobs", "1", "--no-progress", "--out", str(tmp_path / "d"),
                        "--figure", str(tmp_path / "d.png")], capsys)
    assert code == 0, err
    assert (pd.read_csv(tmp_path / "d" / "dci.csv")["checkpoint_sha256"] == sha).all()
