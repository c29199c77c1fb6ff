"""Report commands end to end on a tiny EfficientMORL checkpoint and a tiny generated dataset."""

from __future__ import annotations

import hashlib

from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from emorl_eval import cli
from emorl_eval.data import generate_h5
from emorl_eval.reports.grids import LABEL_PX, TITLE_PX

from emorl_eval import models
import emorl_eval.models.checkpoints as checkpoints

TINY = dict(num_slots=3, latent_dim=6, num_layers=2, refinement_steps=1)
K = TINY["num_slots"]


@pytest.fixture(scope="module")
def tiny_h5(tmp_path_factory) -> Path:
    return generate_h5(tmp_path_factory.mktemp("data") / "tetro.h5", "tetrominoes", num=12, seed=0,
                       test_fraction=0.5)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    model = models.build("emorl", preset="tetrominoes", **TINY)
    # the reference init (xavier, gain 0.02) makes the decoder nearly ignore z; larger random
    # weights give latents that differ between images and act on the image
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 / p[0].numel() ** 0.5))
    return checkpoints.save_checkpoint(tmp_path_factory.mktemp("run") / "checkpoint_7.pt", model, step=7)


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(cli.cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _png_size(path: Path) -> tuple[int, int]:
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        return im.size


def test_decompose(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.png"
    _invoke(["figures", "decompose", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "2",
             "--cell-px", "40", "--out", str(out)])
    assert _png_size(out) == ((3 + K) * 40, TITLE_PX + 2 * 40)


def test_traverse(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.png"
    text = _invoke(["figures", "traverse", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--range-images", "6",
                    "--num-dims", "2", "--steps", "3", "--slot", "2", "--cell-px", "32", "--out", str(out)])
    assert "slot 2" in text
    assert _png_size(out) == (LABEL_PX + 4 * 32, TITLE_PX + 2 * 32)


def test_stages(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    text = _invoke(["figures", "stages", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--cell-px", "32",
                    "--out", str(out)])
    assert "layer1, layer2, refine1" in text
    # input + recon + mask argmax + K masks + K attention maps (the layers have attention)
    assert _png_size(out) == (LABEL_PX + (3 + 2 * K) * 32, TITLE_PX + 3 * 32)


def test_leakage_in_unit_interval(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "leak"
    _invoke(["leakage", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--num", "1", "--range-images", "6",
             "--dims-per-slot", "2", "--steps", "3", "--out", str(prefix)])
    summary = pd.read_csv(str(prefix) + ".csv")
    assert summary["n_included"].iloc[0] > 0
    assert 0.0 <= summary["leakage"].iloc[0] <= 1.0
    assert summary["checkpoint"].iloc[0] == str(tiny_ckpt)
    assert summary["checkpoint_sha256"].iloc[0] == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    per = pd.read_csv(str(prefix) + "_per_dim.csv")
    assert len(per) == 1 * K * 2 and per["leak"].between(0, 1).all()
    assert _png_size(Path(str(prefix) + ".png")) == (LABEL_PX + 4 * 80, TITLE_PX + 2 * K * 80)
    assert set(per["slot"]) == set(range(1, K + 1))  # slots numbered from 1, as in the figure


def test_change_rows_carry_their_colour_key() -> None:
    from emorl_eval.reports.leakage import change_row_label

    label = change_row_label(0.4217)
    assert label.splitlines() == ["change per pixel", "|dR|+|dG|+|dB|", "full = 0.42 of 3", "red out, green in"]


def test_timing_tiny(tmp_path: Path) -> None:
    from emorl_eval.reports.timing import measure_timing

    df = measure_timing(["emorl", "not_a_model"], [16], batch_size=2, repeats=1, warmup=0, preset="tetrominoes")
    row = df[df["model"] == "emorl"].iloc[0]
    assert row["status"] == "ok" and row["ms_per_step"] > 0
    assert row["params"] == 467_236  # the tetrominoes preset's count does not depend on image size
    assert df[df["model"] == "not_a_model"]["status"].iloc[0].startswith("unavailable")


def test_bad_inputs_are_one_line_errors(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["figures", "traverse", "--ckpt", str(tiny_ckpt), "--data", str(tiny_h5), "--range-images", "4",
                  "--slot", "9", "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--slot 9" in err[0]
    with pytest.raises(SystemExit):
        cli.main(["figures", "decompose", "--ckpt", str(tmp_path / "nope.pt"), "--data", str(tiny_h5)])
    assert capsys.readouterr().err.startswith("error:")
    small = checkpoints.save_checkpoint(tmp_path / "small.pt", models.build("emorl", preset="tetrominoes",
                                                                         image_size=(16, 16), **TINY), step=0)
    with pytest.raises(SystemExit):
        cli.main(["leakage", "--ckpt", str(small), "--data", str(tiny_h5), "--out", str(tmp_path / "l")])
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tiny_h5}: images are 35x35 but the model expects 16x16"


def test_report_with_data(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path) -> None:
    import shutil

    from tests.reports.runfolders import make_run

    runs = tmp_path / "runs"
    run = make_run(runs, "tiny_s1", seed=1, ari=[0.5, 0.7], mse=[1e-2, 2e-2], kl=[5.0, 6.0])
    shutil.copy(tiny_ckpt, run / "checkpoint_7.pt")
    make_run(runs, "no_ckpt", seed=2, layout="none")
    out = tmp_path / "reports"
    _invoke(["report", str(runs), "--data", str(tiny_h5), "--out", str(out), "--num-images", "2",
             "--range-images", "4", "--leakage-images", "1", "--dims-per-slot", "1", "--device", "cpu"])
    readme = (out / "README.md").read_text()
    for rel in ["tables/ablation.md", "tables/leakage.md", "figures/tiny_s1_decompose.png",
                "figures/tiny_s1_traverse.png", "figures/tiny_s1_stages.png", "leakage/tiny_s1.png"]:
        assert f"({rel})" in readme and (out / rel).is_file()
    assert "no_ckpt: no checkpoint" in readme
    leak = pd.read_csv(out / "tables" / "leakage.csv")
    assert list(leak["run"]) == ["tiny_s1"] and leak["model"].iloc[0] == "emorl"


def test_ablation_table_reads_evaluate_output(tiny_ckpt: Path, tiny_h5: Path, tmp_path: Path) -> None:
    """The columns `emorl-eval evaluate` writes are the ones the ablation table reads."""
    import shutil

    from tests.reports.runfolders import make_run

    run = make_run(tmp_path / "runs", "tiny_s3", seed=3, layout="none")
    shutil.copy(tiny_ckpt, run / "checkpoint_7.pt")
    _invoke(["evaluate", "--ckpt", str(run / "checkpoint_7.pt"), "--data", str(tiny_h5), "--num", "3",
             "--no-progress"])
    per_image = pd.read_csv(run / "eval" / "per_image.csv")
    _invoke(["ablation-table", str(tmp_path / "runs"), "--out", str(tmp_path / "t" / "ablation")])
    row = pd.read_csv(tmp_path / "t" / "ablation.csv").iloc[0]
    assert row["Env"] == per_image["dataset"].iloc[0] and row["n_seeds"] == 1
    assert row["ari_mean"] == pytest.approx(per_image["ari_fg"].mean())
    assert row["mse_mean"] == pytest.approx(per_image["mse"].mean())
    assert row["kl_mean"] == pytest.approx(per_image["kl"].mean())
    # the same from summary.csv alone
    (run / "eval" / "per_image.csv").unlink()
    _invoke(["ablation-table", str(tmp_path / "runs"), "--out", str(tmp_path / "t" / "ablation")])
    again = pd.read_csv(tmp_path / "t" / "ablation.csv").iloc[0]
    assert again["Env"] == row["Env"]
    for m in ("ari", "mse", "kl"):
        assert again[f"{m}_mean"] == pytest.approx(row[f"{m}_mean"], rel=1e-6)
