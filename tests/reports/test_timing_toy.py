"""Timing through the registry, with the toy model registered by monkeypatching."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from emorl_eval import cli
from emorl_eval.reports.timing import count_parameters, measure_timing
from tests.reports.toy_model import ToyConfig, ToyModel




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


def test_report_with_timing(toy_registry: None, tmp_path: Path) -> None:
    from tests.reports.runfolders import make_run

    make_run(tmp_path / "runs", "a", ari=[0.5], mse=[1e-3], kl=[1.0])
    out = tmp_path / "reports"
    result = CliRunner().invoke(cli.cli, ["report", str(tmp_path / "runs"), "--out", str(out), "--timing",
                                          "--timing-models", "toy,nope", "--timing-sizes", "8",
                                          "--timing-repeats", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    readme = (out / "README.md").read_text()
    assert "(timing/timing.csv)" in readme and "(timing/timing.png)" in readme
    assert "timing nope @ 8: unavailable: not registered" in readme
