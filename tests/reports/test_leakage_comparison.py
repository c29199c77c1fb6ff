"""Leakage of several models on the same images (emorl-eval leakage-compare): the toy models'
known answers, the figure's legibility, and the command's files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval.reports.leakage import measure_leakage
from emorl_eval.reports.leakage_comparison import compare_leakage, comparison_figure
from tests.cli_run import run_cli
from tests.reports.test_figure_legibility import _problems
from tests.reports.toy_model import ToyConfig, ToyModel


def _images(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def _toys() -> dict[str, ToyModel]:
    return {"coupled": ToyModel(ToyConfig(coupled=True)).eval(), "independent": ToyModel(ToyConfig()).eval()}


def test_each_model_gets_the_single_model_score_on_the_same_settings() -> None:
    images, ref = _images(3), _images(5)
    comparison = compare_leakage(_toys(), images, range_images=ref, dims_per_slot=2, steps=3)
    summary = comparison.summary
    assert summary["label"].tolist() == ["coupled", "independent"]  # the order given
    for label, model in _toys().items():
        alone = measure_leakage(model, images, range_images=ref, dims_per_slot=2, steps=3)
        row = summary.set_index("label").loc[label]
        assert row["leakage"] == pytest.approx(alone.score, abs=1e-12)
        assert row["n_included"] == alone.n_included
    row = summary.set_index("label")
    assert row.loc["coupled", "leakage"] > 0.3 and row.loc["independent", "leakage"] < 1e-6
    assert summary["chance"].tolist() == pytest.approx([2 / 3, 2 / 3]) and (summary["K"] == 3).all()
    assert comparison.settings == {"images": 3, "range_images": 5, "dims_per_slot": 2, "steps": 3,
                                   "min_change": 0.01, "seed": 0}
    assert set(comparison.per_triple["label"]) == {"coupled", "independent"}
    assert "leakage_slot1" in summary.columns and "leakage_image_std" in summary.columns


def test_figure_is_legible(tmp_path: Path, monkeypatch) -> None:
    import matplotlib.figure

    saved = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append((self, kwargs.get("dpi") or self.dpi))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    comparison = compare_leakage(_toys(), _images(2), dims_per_slot=1, steps=2)
    path = comparison_figure(comparison, tmp_path / "c.png")
    assert path.is_file() and len(saved) == 1
    assert _problems(*saved[0]) == []


@pytest.fixture(scope="module")
def setup(tiny_sa_and_genesis) -> tuple[Path, Path, Path]:
    return tiny_sa_and_genesis


def test_command_writes_table_figure_and_the_command(setup, tmp_path: Path, capsys) -> None:
    data, sa, gen = setup
    out = tmp_path / "cmp" / "leak"
    code, stdout, err = run_cli(["leakage-compare", "--ckpt", str(sa), "--ckpt", str(gen), "--label", "SA",
                                 "--label", "GENESIS", "--data", str(data), "--num", "2", "--range-images", "4",
                                 "--dims-per-slot", "2", "--steps", "2", "--no-progress", "--out", str(out)],
                                capsys)
    assert code == 0, err
    summary = pd.read_csv(out.with_name("leak.csv"))
    assert summary["label"].tolist() == ["SA", "GENESIS"]
    assert summary["model"].tolist() == ["slot_attention", "genesis"]
    assert summary["step"].tolist() == [3, 5] and summary["source"].tolist() == [str(sa), str(gen)]
    assert summary["checkpoint_sha256"].str.len().eq(64).all()
    per_dim = pd.read_csv(out.with_name("leak_per_dim.csv"))
    assert set(per_dim["label"]) == {"SA", "GENESIS"}
    md = out.with_name("leak.md").read_text()
    assert "emorl-eval leakage-compare --ckpt" in md and "--label SA" in md and "--steps 2" in md
    assert out.with_name("leak.png").is_file()
    assert "GENESIS" in stdout


def test_labels_must_match_the_checkpoints(setup, tmp_path: Path, capsys) -> None:
    data, sa, gen = setup
    code, _, err = run_cli(["leakage-compare", "--ckpt", str(sa), "--ckpt", str(gen), "--label", "only-one",
                            "--data", str(data), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and err.startswith("error:") and "--label" in err and "Traceback" not in err
    code, _, err = run_cli(["leakage-compare", "--ckpt", str(sa), "--ckpt", str(sa),
                            "--data", str(data), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "distinct" in err
