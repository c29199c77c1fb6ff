"""``train --init-from PARENT --init-modules a,b``: some of another run's modules (possibly another
model's) start a run whose own config, schedule and step counter start fresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emorl_eval.errors import CheckpointError, ConfigError
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST
from tests.cli_run import run_cli
from tests.training.doubles import TinyModel


def _config(data: Path, out: Path, steps: int, sets=(), init_from=None, modules=(), seed=0, model="tiny",
            preset="small", **options):
    return resolve_train_config(
        model, str(data), str(out), preset, steps=steps, log_every=1, ckpt_every=2, device="cpu",
        progress=False, sets=list(sets), init_from=init_from, init_modules=modules, seed=seed, **options,
    )


@pytest.fixture
def parent(tiny_data: Path, tmp_path: Path) -> Path:
    """A finished 6-step run of the tiny double: 2 slots, latent_dim 4 (GECO-like buffer moved)."""
    return train(_config(tiny_data, tmp_path / "parent", 6, sets=["latent_dim=4"], seed=3))


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_only_the_named_modules_come_from_the_parent(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    # another config (3 slots: the encoder's shape differs; no GECO-like update) is accepted: only
    # refine and decoder load; an LR of 1e-12 keeps the child's weights where they started
    child = train(_config(tiny_data, tmp_path / "child", 1,
                          sets=["latent_dim=4", "num_slots=3", "use_geco=false", "lr=1e-12"],
                          init_from=str(parent), modules=["refine", "decoder"]))
    before, after = _state(parent / LAST), _state(child / LAST)
    for key in ("refine.weight", "refine.bias", "decoder.weight"):
        assert torch.allclose(before[key], after[key], atol=1e-9), key
    assert after["encoder.weight"].shape != before["encoder.weight"].shape
    # the buffers were not named: the child's GECO-like state is a fresh model's, not the parent's
    assert before["geco_beta"] > 0.56
    assert after["geco_beta"] == pytest.approx(0.55)
    fresh = TinyModel(TinyModel.config_class(num_slots=3, latent_dim=4))
    assert not torch.allclose(fresh.decoder.weight, after["decoder.weight"])


def test_the_step_counter_and_schedule_start_at_zero(parent: Path, tiny_data: Path, tmp_path: Path,
                                                     monkeypatch) -> None:
    seen: list[int] = []
    real = TinyModel.on_train_step
    monkeypatch.setattr(TinyModel, "on_train_step", lambda self, step: (seen.append(step), real(self, step)))
    child = train(_config(tiny_data, tmp_path / "child", 3, sets=["latent_dim=4"], init_from=str(parent),
                          modules=["decoder"]))
    assert seen == [0, 1, 2]
    # the preset's warm-up of 2 steps to lr 1e-2 from step 0, without the re-warm of 500 steps on top
    import pandas as pd

    assert pd.read_csv(child / "metrics.csv")["lr"].tolist() == pytest.approx([0.0, 0.5e-2, 1e-2])
    config = json.loads((child / "config.json").read_text())
    assert config["train"]["init_modules"] == ["decoder"]
    record = torch.load(child / LAST, weights_only=True)["extra"]["lineage"]
    assert record["init_modules"] == ["decoder"] and record["start_step"] == 0
    assert record["parent_steps"] == 6
    assert record["cumulative_steps"] == 6 + 3  # the parent's steps and this run's


def test_resume_keeps_the_modules_in_the_record(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "child"
    train(_config(tiny_data, out, 2, sets=["latent_dim=4"], init_from=str(parent), modules=["decoder"]))
    train(_config(tiny_data, out, 4, sets=["latent_dim=4"]), resume=True)
    ckpt = torch.load(out / LAST, weights_only=True)
    assert ckpt["step"] == 4
    assert ckpt["extra"]["lineage"]["init_modules"] == ["decoder"]
    assert ckpt["extra"]["lineage"]["cumulative_steps"] == 10
    assert json.loads((out / "config.json").read_text())["train"]["init_modules"] == ["decoder"]


def test_errors_are_one_line(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"--init-modules nothing: the parent \(tiny\) has no such module; "
                                              r"its top-level modules: decoder, encoder, geco_C_ema, geco_beta, refine"):
        train(_config(tiny_data, tmp_path / "a", 2, init_from=str(parent), modules=["nothing"]))
    with pytest.raises(CheckpointError, match=r"does not fit this model \(shapes that differ: encoder.weight "
                                              r"\(parent \(16, 3675\), this run \(24, 3675\)\)"):
        train(_config(tiny_data, tmp_path / "b", 2, sets=["latent_dim=4", "num_slots=3"], init_from=str(parent),
                      modules=["encoder"]))
    with pytest.raises(ConfigError, match="--init-modules needs --init-from"):
        _config(tiny_data, tmp_path / "c", 2, modules=["decoder"])
    # "enc" is not a module name, though it begins one
    with pytest.raises(CheckpointError, match="--init-modules enc: the parent"):
        train(_config(tiny_data, tmp_path / "d", 2, init_from=str(parent), modules=["enc"]))
    assert not any((tmp_path / n / LAST).exists() for n in "abd")


def test_genesis_takes_genesis_s_attention_network(dsprites16_h5: Path, tmp_path: Path) -> None:
    """Across models: the mask pathway of GENESIS-S (same shapes) into GENESIS."""
    s = train(_config(dsprites16_h5, tmp_path / "s", 2, model="genesis_s", preset="tiny", batch_size=2))
    modules = ["mask_vae", "q_mean", "q_std", "post_lstm", "post_head", "prior_lstm", "prior_head"]
    g = train(_config(dsprites16_h5, tmp_path / "g", 1, model="genesis", preset="tiny", batch_size=2,
                      sets=["lr=1e-12"], init_from=str(s), modules=modules))
    before, after = _state(s / LAST), _state(g / LAST)
    # parameters only: BatchNorm's running statistics move with the child's one forward pass
    loaded = [k for k in before if k.split(".")[0] in modules and not k.split(".")[-1].startswith(("running_", "num_"))]
    assert loaded and all(torch.allclose(before[k], after[k], atol=1e-7) for k in loaded), loaded
    assert any(k.startswith("comp_encoder.") for k in after)  # GENESIS's own component VAE, fresh
    assert json.loads((g / "config.json").read_text())["lineage"]["parent_model"] == "genesis_s"


def test_cli(parent: Path, tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "child"
    start = ["train", "--init-from", str(parent), "--init-modules", "refine, decoder", "--set", "latent_dim=4",
             "--set", "num_slots=3", "--data", str(tiny_data), "--out", str(out), "--device", "cpu", "--no-progress"]
    code, _, err = run_cli([*start, "--steps", "2"], capsys)
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["init_modules"] == ["refine", "decoder"]
    assert (config["model_name"], config["seed"]) == ("tiny", 3)  # the parent's model and seed by default
    code, _, err = run_cli([*start, "--steps", "4", "--resume"], capsys)  # the start command + --resume
    assert code == 0, err
    code, _, err = run_cli([*start[:4], "decoder", *start[5:], "--steps", "6", "--resume"], capsys)
    assert code != 0 and "was started with --init-modules refine,decoder" in err
    assert len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(["train", "--init-modules", "decoder", "--model", "tiny", "--data", str(tiny_data),
                            "--out", str(tmp_path / "x"), "--steps", "2", "--device", "cpu"], capsys)
    assert code != 0 and "--init-modules needs --init-from" in err
    assert len(err.strip().splitlines()) == 1, err
