"""Object fates over a dataset (emorl_eval.fates_table, `emorl-eval fates`): the same forward
passes as `evaluate`, summaries that match the per-object rows, and the command's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from emorl_eval.fates_table import OBJECT_COLUMNS, object_fates_table, summarize_objects
from tests.cli_run import run_cli


@pytest.fixture(scope="module")
def setup(tiny_sa_and_genesis) -> tuple[Path, Path, Path]:
    return tiny_sa_and_genesis


def test_fg_ari_is_evaluates_and_rows_are_scored_objects(setup) -> None:
    from emorl_eval.data import ObjectsDataset
    from emorl_eval.evaluate import evaluate_model
    from emorl_eval import models

    data, _, gen = setup
    model, dataset = models.load(gen), ObjectsDataset(data, split="test")
    objects, ari = object_fates_table(model, dataset, num=5, batch_size=2, seed=3, progress=False,
                                      metadata={"label": "g"})
    per_image = evaluate_model(model, dataset, num=5, batch_size=2, seed=3, progress=False)
    np.testing.assert_allclose(ari, per_image["ari_fg"].to_numpy())  # same images, same noise
    assert list(objects.columns) == ["label", *OBJECT_COLUMNS]
    # one row per visible, non-empty object of the first 5 images
    expected = sum(int(((dataset[i]["masks"] == j + 1).any() & dataset[i]["visibility"][j].bool()).item())
                   for i in range(5) for j in range(dataset[i]["visibility"].shape[0]))
    assert len(objects) == expected
    assert objects["majority_share"].between(0, 1).all() and objects["background_share"].between(0, 1).all()
    summary = summarize_objects(objects, ari)
    assert summary["objects"] == expected and summary["images"] == 5
    assert summary["background_share"] == pytest.approx(objects["background_share"].mean())
    assert summary["merged"] == pytest.approx(objects["merged"].mean())


def test_command_writes_table_rows_and_the_command(setup, tmp_path: Path, capsys) -> None:
    data, sa, gen = setup
    out = tmp_path / "f" / "fates"
    code, stdout, err = run_cli(["fates", "--ckpt", str(sa), "--ckpt", str(gen), "--label", "SA", "--label", "GENESIS",
                                 "--data", str(data), "--num", "4", "--no-progress", "--out", str(out)], capsys)
    assert code == 0, err
    rows = pd.read_csv(out.with_name("fates.csv"))
    assert rows["label"].tolist() == ["SA", "GENESIS"] and rows["model"].tolist() == ["slot_attention", "genesis"]
    assert rows["checkpoint_step"].tolist() == [3, 5] and (rows["images"] == 4).all()
    per_object = pd.read_csv(out.with_name("fates_per_object.csv"))
    for label, row in rows.set_index("label").iterrows():
        mine = per_object[per_object["label"] == label]
        assert row["objects"] == len(mine)
        assert row["majority_share"] == pytest.approx(mine["majority_share"].mean())
    md = out.with_name("fates.md").read_text()
    assert "emorl-eval fates --ckpt" in md and "--label SA" in md and "in background slot" in md
    assert "GENESIS" in stdout and "FG-ARI" in stdout


def test_label_count_must_match(setup, tmp_path: Path, capsys) -> None:
    data, sa, gen = setup
    code, _, err = run_cli(["fates", "--ckpt", str(sa), "--ckpt", str(gen), "--label", "one", "--data", str(data),
                            "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and err.startswith("error:") and "--label" in err and "Traceback" not in err
