"""The training loop on the tiny double: one step, run-folder outputs, hooks and schedules."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval import models
from emorl_eval.errors import ConfigError, DataError
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST


def _config(data: Path, out: Path, sets=(), **options):
    options = {"device": "cpu", "progress": False, **options}
    return resolve_train_config("tiny", str(data), str(out), "small", sets=sets, **options)


def test_one_step_gives_finite_loss_and_gradients(tiny) -> None:
    model = models.build("tiny", "small")
    images = torch.rand(4, 3, 35, 35)
    out = model(images, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_run_writes_config_metrics_and_checkpoints(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = _config(tiny_data, out, log_every=2, ckpt_every=3, sets=["num_slots=3"])
    assert train(cfg) == out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["checkpoint_0000003.pt", "checkpoint_0000006.pt", "checkpoint_0000008.pt", LAST,
                     "config.json", "metrics.csv"]
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["steps"] == 8 and config["model_config"]["num_slots"] == 3
    assert (config["model_name"], config["preset"], config["dataset"], config["seed"]) == ("tiny", "small", "tetrominoes", 0)
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["step"].tolist() == [2, 4, 6, 8]
    for column in ("loss", "nll", "kl", "geco_beta", "geco_C_ema", "lr", "grad_norm", "steps_per_s", "refinement_steps"):
        assert column in metrics.columns and metrics[column].notna().all()
    assert metrics["refinement_steps"].tolist() == [2, 2, 1, 1]  # curriculum [[-1, 2], [4, 1]]
    assert metrics["lr"].tolist() == pytest.approx([5e-3, 1e-2, 1e-2, 1e-2])  # warm-up 2: lr of step index 1

    ckpt = torch.load(out / LAST, weights_only=True)
    assert ckpt["step"] == 8 and ckpt["model_name"] == "tiny"
    assert set(ckpt["extra"]) >= {"train_config", "optimizer", "rng", "position"}
    assert "geco_beta" in ckpt["state_dict"] and float(ckpt["state_dict"]["geco_beta"]) > 0.55
    first = torch.load(out / "checkpoint_0000003.pt", weights_only=True)
    assert not torch.equal(first["state_dict"]["encoder.weight"], ckpt["state_dict"]["encoder.weight"])


def test_hooks_and_curriculum_reach_the_model(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    seen = {}
    real_build = models.build

    def build(*args, **kwargs):
        seen["model"] = real_build(*args, **kwargs)
        return seen["model"]

    monkeypatch.setattr(models, "build", build)
    cfg = _config(tiny_data, tmp_path / "run", sets=["refinement_curriculum=[[0,3],[3,0],[5,2]]"])
    train(cfg)
    model = seen["model"]
    assert model.train_steps == list(range(8))
    assert model.refinement_seen == [3, 3, 3, 0, 0, 2, 2, 2]


def test_warmup_lr_reaches_the_optimizer(tiny_data: Path, tmp_path: Path, adam_lrs: list[float]) -> None:
    lrs = adam_lrs
    train(_config(tiny_data, tmp_path / "run", sets=["warmup_steps=4", "lr=0.004"]))
    assert lrs == pytest.approx([0.0, 0.001, 0.002, 0.003, 0.004, 0.004, 0.004, 0.004])


def test_gradients_are_clipped(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    norms = []
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    train(_config(tiny_data, tmp_path / "run", sets=["clip_grad_norm=0.5"]))
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert max(norms) == pytest.approx(0.5, rel=1e-4)
    assert metrics["grad_norm"].iloc[-1] > 0.5  # the logged norm is the one before clipping


def test_bf16_autocast_runs(tiny_data: Path, tmp_path: Path) -> None:
    train(_config(tiny_data, tmp_path / "run", steps=2, bf16=True))
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["loss"].notna().all()


def test_existing_run_needs_resume_and_resume_needs_a_run(tiny_data: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_data, tmp_path / "run", steps=2)
    train(cfg)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg)
    from emorl_eval.errors import CheckpointError

    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(_config(tiny_data, tmp_path / "other", steps=2), resume=True)


def test_data_errors(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data file"):
        train(_config(tmp_path / "missing.h5", tmp_path / "run"))
    with pytest.raises(DataError, match="images are 35x35 but the model expects 8x8"):
        train(_config(tiny_data, tmp_path / "run", sets=["image_size=[8,8]"]))
    with pytest.raises(DataError, match="fewer than one batch"):
        train(_config(tiny_data, tmp_path / "run", batch_size=32))
    assert not (tmp_path / "run").exists()  # nothing written for a run that cannot start


def test_fresh_start_replaces_metrics_of_a_run_that_died_before_its_first_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.csv").write_text("step,loss,old_column\n5,1.0,2.0\n")
    train(_config(tiny_data, out, steps=2, log_every=1))
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["step"].tolist() == [1, 2] and "old_column" not in metrics.columns


def test_nan_loss_stops_with_a_one_line_error(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    from emorl_eval.training import TrainingDiverged
    from tests.training.doubles import TinyModel

    real_forward = TinyModel.forward

    def forward(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        if len(self.train_steps) > 2:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(TinyModel, "forward", forward)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 4; the last checkpoint is .*checkpoint_last.pt"):
        train(_config(tiny_data, tmp_path / "run", log_every=2, ckpt_every=2))
    assert torch.load(tmp_path / "run" / LAST, weights_only=True)["step"] == 2


def test_nan_loss_is_never_checkpointed(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    from emorl_eval.training import TrainingDiverged
    from tests.training.doubles import TinyModel

    real_forward = TinyModel.forward

    def forward(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        if len(self.train_steps) == 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(TinyModel, "forward", forward)
    with pytest.raises(TrainingDiverged, match="before step 4"):
        train(_config(tiny_data, tmp_path / "run", log_every=5, ckpt_every=2))
    assert torch.load(tmp_path / "run" / LAST, weights_only=True)["step"] == 2


def test_config_json_exists_before_the_first_step(tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    from tests.training.doubles import TinyModel

    out = tmp_path / "run"
    seen = []
    monkeypatch.setattr(TinyModel, "on_train_step", lambda self, step: seen.append((out / "config.json").is_file()))
    train(_config(tiny_data, out, steps=1))
    assert seen == [True]
