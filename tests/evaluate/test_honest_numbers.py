"""Numbers are shown as what they are: a model without a KL term has KL n/a (empty in CSV), the
NLL is labelled with its likelihood and sigma, train's summary shows GECO terms only for GECO runs
and says what ``loss`` is, ``data info`` names every factor column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from emorl_eval import models
from emorl_eval.data import ObjectsDataset, generate_h5
from emorl_eval.evaluate import evaluate_model, summarize, summary_markdown, write_evaluation
from tests.cli_run import run_cli


@pytest.fixture(scope="module")
def h5_16(tmp_path_factory) -> Path:
    return generate_h5(tmp_path_factory.mktemp("d16") / "d.h5", "multi_dsprites", num=6, seed=0,
                       test_fraction=0.5, size=16)


def test_a_model_without_kl_reports_n_a_not_zero(h5_16: Path, tmp_path: Path) -> None:
    model = models.build("slot_attention", "tiny")
    df = evaluate_model(model, ObjectsDataset(h5_16, "test"), num=3, batch_size=3, progress=False)
    assert df["kl"].isna().all() and df["likelihood"].eq("sse").all()
    summary = summarize(df).set_index("metric")
    assert summary.loc["kl", "n"] == 0 and pd.isna(summary.loc["kl", "mean"])
    assert "| KL (nats) | n/a | 0 |" in summary_markdown(summarize(df))
    paths = write_evaluation(df, tmp_path / "eval")
    per_image = (tmp_path / "eval" / "per_image.csv").read_text().splitlines()
    header, row = per_image[0].split(","), per_image[1].split(",")
    assert row[header.index("kl")] == ""  # empty cell, not 0
    assert pd.read_csv(paths["summary"]).set_index("metric").loc["kl", "mean"] != 0


def test_the_nll_names_its_likelihood_and_sigma(h5_16: Path, tmp_path: Path) -> None:
    model = models.build("genesis", "tiny")
    info = model.likelihood_info()
    df = evaluate_model(model, ObjectsDataset(h5_16, "test"), num=2, batch_size=2, progress=False)
    assert df["likelihood"].iloc[0] == info["likelihood"] and df["sigma"].iloc[0] == info["sigma"]
    label = summarize(df).set_index("metric").loc["nll", "label"]
    assert info["likelihood"] in label and f"sigma {info['sigma']:g}" in label
    summary = pd.read_csv(write_evaluation(df, tmp_path / "e")["summary"])
    assert {"likelihood", "sigma"} <= set(summary.columns)


def test_train_prints_no_geco_terms_without_geco_and_says_what_loss_is(capsys, tmp_path: Path) -> None:
    data = generate_h5(tmp_path / "t.h5", "tetrominoes", num=4, seed=0, test_fraction=0.5)
    argv = ["train", "--model", "emorl", "--preset", "tetrominoes_cpu", "--data", str(data), "--steps", "1",
            "--batch-size", "2", "--no-progress", "--set", "num_slots=2", "--set", "latent_dim=4",
            "--set", "use_geco=false"]
    code, out, err = run_cli(argv + ["--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    keys = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()]
    assert "loss" in keys and not any(k.startswith("geco_") for k in keys) and "not nll + kl" in out
    code, out, err = run_cli(["train", "--model", "slot_attention", "--preset", "tiny", "--data",
                              str(generate_h5(tmp_path / "s.h5", "multi_dsprites", num=4, seed=0, size=16,
                                              test_fraction=0.5)),
                              "--steps", "1", "--batch-size", "2", "--no-progress", "--out", str(tmp_path / "sa")],
                             capsys)
    assert code == 0, err
    kl_line = next(line for line in out.splitlines() if line.split()[:1] == ["kl"])
    assert kl_line.split()[1] == "n/a"
    assert pd.read_csv(tmp_path / "sa" / "metrics.csv")["kl"].isna().all()


def test_train_help_says_what_loss_is(capsys) -> None:
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0 and "not nll + kl" in " ".join(out.split()) and "GECO" in out


def test_data_info_names_every_factor_column(h5_16: Path, capsys) -> None:
    code, out, err = run_cli(["data", "info", str(h5_16)], capsys)
    assert code == 0, err
    assert "factors (6, 9)" in out
    columns = next(line for line in out.splitlines() if line.startswith("factor array"))
    assert "8: visibility" in columns and "0: x" in columns
