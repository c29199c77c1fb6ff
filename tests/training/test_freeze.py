"""``--set freeze_modules=a,b [--set freeze_until=STEP]``: named modules keep their weights while
the rest trains (e.g. a transplanted attention network while a fresh component VAE learns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emorl_eval.errors import ConfigError
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST
from tests.cli_run import run_cli


def _config(data: Path, out: Path, steps: int, sets=(), **options):
    return resolve_train_config(
        "tiny", str(data), str(out), "small", steps=steps, log_every=1, ckpt_every=1, device="cpu",
        progress=False, sets=list(sets), **options,
    )


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def _initial_state(data: Path, tmp_path: Path) -> dict:
    """The weights every run of seed 0 starts from (a run with an LR too small to move them)."""
    return _state(train(_config(data, tmp_path / "init", 1, sets=["lr=1e-30"])) / LAST)


def test_frozen_modules_keep_their_weights_while_the_rest_trains(tiny_data: Path, tmp_path: Path) -> None:
    start = _initial_state(tiny_data, tmp_path)
    run = train(_config(tiny_data, tmp_path / "run", 4, sets=["freeze_modules=encoder,refine"]))
    after = _state(run / LAST)
    for key in ("encoder.weight", "encoder.bias", "refine.weight", "refine.bias"):
        assert torch.equal(start[key], after[key]), key
    assert not torch.allclose(start["decoder.weight"], after["decoder.weight"])
    # the gradient still flows through the frozen encoder: without the freeze the encoder moves
    free = _state(train(_config(tiny_data, tmp_path / "free", 4)) / LAST)
    assert not torch.allclose(start["encoder.weight"], free["encoder.weight"])


def test_freeze_until_releases_the_modules(tiny_data: Path, tmp_path: Path) -> None:
    start = _initial_state(tiny_data, tmp_path)
    out = tmp_path / "run"
    sets = ["freeze_modules=[\"decoder\"]", "freeze_until=3"]
    train(_config(tiny_data, out, 6, sets=sets))
    at = {s: _state(out / f"checkpoint_{s:07d}.pt")["decoder.weight"] for s in (1, 3, 4, 6)}
    assert torch.equal(at[1], start["decoder.weight"]) and torch.equal(at[3], start["decoder.weight"])
    assert not torch.allclose(at[4], at[3]) and not torch.allclose(at[6], at[4])  # steps 3, 4, 5 trained it
    assert json.loads((out / "config.json").read_text())["train"]["freeze_modules"] == ["decoder"]


def test_set_forms_and_errors(tiny_data: Path, tmp_path: Path) -> None:
    comma = _config(tiny_data, tmp_path / "a", 2, sets=["freeze_modules=encoder, refine"])
    json_form = _config(tiny_data, tmp_path / "a", 2, sets=['freeze_modules=["encoder","refine"]'])
    assert comma.freeze_modules == json_form.freeze_modules == ["encoder", "refine"]
    assert _config(tiny_data, tmp_path / "a", 2).freeze_until is None
    with pytest.raises(ConfigError, match="freeze_until=5: needs freeze_modules"):
        _config(tiny_data, tmp_path / "a", 2, sets=["freeze_until=5"])
    with pytest.raises(ConfigError, match="freeze_until=-1"):
        _config(tiny_data, tmp_path / "a", 2, sets=["freeze_modules=encoder", "freeze_until=-1"])
    # "enc" begins a module name but is none
    with pytest.raises(ConfigError, match=r"freeze_modules: TinyModel has no parameters under 'enc'; "
                                          r"its top-level modules: decoder, encoder, refine"):
        train(_config(tiny_data, tmp_path / "b", 2, sets=["freeze_modules=enc"]))
    assert not (tmp_path / "b" / LAST).exists()


def test_resume_keeps_the_freeze_and_refuses_another(tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    start = ["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data), "--out", str(out),
             "--device", "cpu", "--no-progress", "--ckpt-every", "1"]
    code, _, err = run_cli([*start, "--steps", "2", "--set", "freeze_modules=decoder"], capsys)
    assert code == 0, err
    frozen = _state(out / LAST)["decoder.weight"]
    code, _, err = run_cli([*start, "--steps", "4", "--resume"], capsys)  # a bare --resume keeps its --set
    assert code == 0, err
    assert torch.equal(_state(out / LAST)["decoder.weight"], frozen)
    code, _, err = run_cli([*start, "--steps", "6", "--resume", "--set", "freeze_modules=encoder"], capsys)
    assert code != 0 and "freeze_modules: ['decoder'] -> ['encoder']" in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_frozen_submodule_keeps_its_normalisation_statistics(dsprites16_h5: Path, tmp_path: Path) -> None:
    """GENESIS's mask VAE has BatchNorm layers: frozen, it runs in eval mode, so their running
    statistics stay as they started (they move in a run without the freeze)."""
    def run(name: str, sets: list[str]) -> dict:
        config = resolve_train_config("genesis", str(dsprites16_h5), str(tmp_path / name), "tiny", steps=2,
                                      batch_size=2, device="cpu", progress=False, sets=["lr=1e-30", *sets])
        return _state(train(config) / LAST)

    def stats(state: dict) -> dict:
        return {k: v for k, v in state.items() if k.startswith("mask_vae.") and k.endswith("running_mean")}

    free, frozen = stats(run("free", [])), stats(run("frozen", ["freeze_modules=mask_vae"]))
    start = stats(run("start", ["freeze_modules=mask_vae", "freeze_until=0"]))  # released at once: moves
    assert frozen and all(torch.equal(v, torch.zeros_like(v)) for v in frozen.values())  # BatchNorm's initial mean
    assert any(not torch.equal(free[k], frozen[k]) for k in frozen)
    assert all(torch.equal(free[k], start[k]) for k in frozen)
