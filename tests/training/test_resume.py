"""--resume continues a killed run with bit-identical results to an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval.errors import ConfigError
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST
from tests.training.doubles import TinyModel


class Killed(Exception):
    """Stands in for the process being killed mid-run."""


def _config(data: Path, out: Path, sets=()):
    # 11 steps over 24 images in batches of 4 (6 per epoch): the resume point (step 4) is
    # mid-epoch and the run crosses an epoch boundary after it
    return resolve_train_config(
        "tiny", str(data), str(out), "small", steps=11, log_every=2, ckpt_every=4, device="cpu",
        deterministic=True, progress=False, sets=["warmup_steps=3", *sets],
    )


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        elif isinstance(a[key], dict):
            _assert_same_state(a[key], b[key])
        elif isinstance(a[key], list):
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                _assert_same_state({"v": x}, {"v": y}) if not isinstance(x, dict) else _assert_same_state(x, y)
        else:
            assert a[key] == b[key], key


def test_resume_is_bit_identical(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    full = tmp_path / "full"
    train(_config(tiny_data, full))

    killed = tmp_path / "killed"
    real_after_backward = TinyModel.after_backward

    def dying_after_backward(self, output):
        if self.train_steps[-1] == 6:  # dies during step index 6, after the checkpoint at 4 steps
            raise Killed
        real_after_backward(self, output)

    monkeypatch.setattr(TinyModel, "after_backward", dying_after_backward)
    with pytest.raises(Killed):
        train(_config(tiny_data, killed))
    assert torch.load(killed / LAST, weights_only=True)["step"] == 4
    monkeypatch.setattr(TinyModel, "after_backward", real_after_backward)
    train(_config(tiny_data, killed), resume=True)

    a = torch.load(full / LAST, weights_only=True)
    b = torch.load(killed / LAST, weights_only=True)
    assert a["step"] == b["step"] == 11
    _assert_same_state(a["state_dict"], b["state_dict"])
    _assert_same_state(a["extra"]["optimizer"], b["extra"]["optimizer"])
    _assert_same_state({"rng": a["extra"]["rng"]}, {"rng": b["extra"]["rng"]})
    assert a["extra"]["position"] == b["extra"]["position"] == [1, 5]

    drop = ["steps_per_s", "images_per_s"]
    ma = pd.read_csv(full / "metrics.csv").drop(columns=drop)
    mb = pd.read_csv(killed / "metrics.csv").drop(columns=drop)
    assert mb["step"].tolist() == [2, 4, 6, 8, 10, 11]  # rows of the killed run after step 4 were dropped
    pd.testing.assert_frame_equal(ma, mb, check_exact=True)


def test_resume_can_extend_a_finished_run(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_config(tiny_data, out))
    longer = _config(tiny_data, out, sets=["steps=13"])
    train(longer, resume=True)
    assert torch.load(out / LAST, weights_only=True)["step"] == 13


def test_resume_refuses_changed_settings(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_config(tiny_data, out, sets=["steps=2"]))
    with pytest.raises(ConfigError, match=r"different settings \(lr: 0.01 -> 0.02"):
        train(_config(tiny_data, out, sets=["lr=0.02"]), resume=True)


def test_metrics_log_after_resume_matches_when_checkpoints_fall_between_log_rows(tiny_data: Path,
                                                                                 tmp_path: Path) -> None:
    """--ckpt-every 7 with --log-every 10: the row of step 10 spans the checkpoint at step 7."""
    def config(out: Path, steps: int):
        return resolve_train_config("tiny", str(tiny_data), str(out), "small", steps=steps, log_every=10,
                                    ckpt_every=7, device="cpu", deterministic=True, progress=False)

    train(config(tmp_path / "whole", 20))
    train(config(tmp_path / "split", 7))
    train(config(tmp_path / "split", 20), resume=True)
    whole = pd.read_csv(tmp_path / "whole" / "metrics.csv")
    split = pd.read_csv(tmp_path / "split" / "metrics.csv")
    assert list(whole["step"]) == list(split["step"]) == [10, 20]
    timing = {"steps_per_s", "images_per_s"}
    for col in (c for c in whole.columns if c not in timing):
        assert whole[col].tolist() == split[col].tolist(), col


def test_resume_accepts_the_same_data_under_another_path(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    """Started with an absolute path, resumed with a relative one from the data's folder."""
    out = tmp_path / "run"
    train(_config(tiny_data, out, sets=["steps=2"]))
    assert torch.load(out / LAST, weights_only=True)["extra"]["data_identity"]["path"] == str(tiny_data.resolve())
    monkeypatch.chdir(tiny_data.parent)
    train(_config(Path(tiny_data.name), out, sets=["steps=4"]), resume=True)
    assert torch.load(out / LAST, weights_only=True)["step"] == 4


def test_resume_accepts_a_copy_of_the_data(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_config(tiny_data, out, sets=["steps=2"]))
    moved = tmp_path / "moved" / "data.h5"
    moved.parent.mkdir()
    moved.write_bytes(tiny_data.read_bytes())
    train(_config(moved, out, sets=["steps=4"]), resume=True)
    assert torch.load(out / LAST, weights_only=True)["step"] == 4


def test_resume_refuses_other_or_changed_data(tiny_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.h5"
    data.write_bytes(tiny_data.read_bytes())
    out = tmp_path / "run"
    train(_config(data, out, sets=["steps=2"]))
    other = tmp_path / "other.h5"
    other.write_bytes(tiny_data.read_bytes() + b"\0")  # same images, other bytes: not the same file
    with pytest.raises(ConfigError, match=r"different settings \(data: .*other\.h5'? \(another file: sha256"):
        train(_config(other, out, sets=["steps=4"]), resume=True)
    data.write_bytes(other.read_bytes())
    with pytest.raises(ConfigError, match=r"the same file changed"):
        train(_config(data, out, sets=["steps=4"]), resume=True)


def test_resume_of_a_run_without_a_data_identity_compares_resolved_paths(tiny_data: Path, tmp_path: Path,
                                                                         monkeypatch) -> None:
    """Checkpoints written before the identity was stored: the same path resolved is accepted."""
    out = tmp_path / "run"
    monkeypatch.chdir(tiny_data.parent)
    train(_config(Path(tiny_data.name), out, sets=["steps=2"]))

    def forget_identity() -> None:
        ckpt = torch.load(out / LAST, weights_only=False)
        del ckpt["extra"]["data_identity"]
        torch.save(ckpt, out / LAST)

    forget_identity()
    train(_config(tiny_data, out, sets=["steps=4"]), resume=True)  # absolute now, relative then
    assert torch.load(out / LAST, weights_only=True)["step"] == 4
    forget_identity()
    elsewhere = tmp_path / "elsewhere.h5"
    elsewhere.write_bytes(tiny_data.read_bytes())  # same bytes, but nothing recorded says so
    with pytest.raises(ConfigError, match=r"different settings \(data: "):
        train(_config(elsewhere, out, sets=["steps=6"]), resume=True)
