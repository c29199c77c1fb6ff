"""Timing through the registry, with the toy model registered by monkeypatching."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import cli
import models
from emorl_eval.reports.timing import count_parameters, measure_timing
from tests.reports.toy_model import ToyConfig, ToyModel


@pytest.fixture()
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "available", lambda: ["toy"])

    def build(name, preset=None, **overrides):
        return ToyModel(ToyConfig(image_size=tuple(overrides.get("image_size", (12, 12)))))

    monkeypatch.setattr(models, "build", build)


def test_measure_timing_rows(toy_registry: None) -> None:
    df = measure_timing(["toy", "nope"], [8, 16], batch_size=2, repeats=2, warmup=1, preset=None)
    assert len(df) == 4
    toy = df[df["model"] == "toy"]
    assert (toy["status"] == "ok").all()
    assert (toy["ms_per_step"] > 0).all() and (toy["ms_min"] <= toy["ms_max"]).all()
    assert (toy["params"] == count_parameters(ToyModel(ToyConfig()))).all()
    assert count_parameters(ToyModel(ToyConfig(latent_dim=4))) == 3 * 4 * 3
    assert (df[df["model"] == "nope"]["status"] == "unavailable: not registered").all()


def test_timing_cli(toy_registry: None, tmp_path: Path) -> None:
    out = tmp_path / "timing" / "t"
    result = CliRunner().invoke(cli.cli, ["timing", "--models", "toy,nope", "--sizes", "16", "--repeats", "1",
                                          "--warmup", "0", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "nope: unavailable: not registered" in result.output
    assert len(pd.read_csv(str(out) + ".csv")) == 2
    assert Path(str(out) + ".png").stat().st_size > 1000
