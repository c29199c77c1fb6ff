"""Official GENESIS-S files (``two_stage=False`` in the official ``genesis_config.py``): no fixture
exists, so one is written here in the official layout from a model of ours.

The official one-stage model has the attention process of GENESIS (``att_process.*``), a broadcast
decoder of the mask latents at the top level (``decoder.seq.<i>``, coordinates in (y, x) order) and
the autoregressive mask prior (``prior_lstm``, ``prior_linear``), with no component VAE and no
component prior. The official names are listed here from that file, independently of the loader's
renaming rules, so a file in exactly that layout must load strictly and forward as the model it
was written from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from emorl_eval import models
from emorl_eval.errors import CheckpointError
from tests.models.test_official_genesis import squares, zero_noise

#: our module name -> the official one (genesis_config.py, two_stage=False)
OFFICIAL_NAMES = (
    (r"mask_vae\.encoder\.(\d+)\.(.+)", r"att_process.core.q_z_nn.\1.\2"),
    (r"q_mean\.(.+)", r"att_process.core.q_z_mean.\1"),
    (r"q_std\.(.+)", r"att_process.core.q_z_var.0.\1"),
    (r"mask_vae\.decoder\.6\.(.+)", r"att_process.core.p_x_mean.\1"),
    (r"mask_vae\.decoder\.(\d+)\.(.+)", r"att_process.core.p_x_nn.\1.\2"),
    (r"post_lstm\.(weight|bias)_(ih|hh)", r"att_process.lstm.\1_\2_l0"),
    (r"post_head\.(.+)", r"att_process.linear.\1"),
    (r"prior_lstm\.(weight|bias)_(ih|hh)", r"prior_lstm.\1_\2_l0"),
    (r"prior_head\.(.+)", r"prior_linear.\1"),
)

FLAGS = {"model_config": "models/genesis_config.py", "dataset": "tetrominoes", "img_size": -1, "K_steps": -1,
         "two_stage": False, "autoreg_prior": True, "comp_prior": True, "attention_latents": 64,
         "enc_norm": "bn", "dec_norm": "bn", "comp_dec_channels": 32, "comp_dec_layers": 4,
         "comp_symmetric": False, "pixel_bound": True, "pixel_std1": 0.7, "pixel_std2": 0.7,
         "montecarlo_kl": True, "geco": True, "g_goal": 0.5655, "g_lr": 1e-5, "g_alpha": 0.99,
         "g_init": 1.0, "g_min": 1e-10, "g_speedup": 10.0, "beta": 0.5}


def _official_key(ours: str) -> str:
    match = re.fullmatch(r"comp_decoder\.net\.(\d+)\.(.+)", ours)
    if match:  # official seq.0 is the parameter-free broadcast layer
        return f"decoder.seq.{int(match.group(1)) + 1}.{match.group(2)}"
    for pattern, repl in OFFICIAL_NAMES:
        if re.fullmatch(pattern, ours):
            return re.sub(pattern, repl, ours)
    raise AssertionError(f"no official name for {ours}")


def _write_official(model, folder: Path, flags: dict) -> Path:
    """``model`` (ours) as the official trainer would have saved it, flags.json beside it."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("geco_"):
            continue
        value = value.clone()
        if key == "comp_decoder.net.0.weight":
            value[:, [-2, -1]] = value[:, [-1, -2]]  # ours (x, y) -> official (y, x)
        state[_official_key(key)] = value
    state["std"] = torch.full((1, 1, 1, 1, model.num_slots), 0.7)
    folder.mkdir(parents=True)
    path = folder / "model.ckpt-FINAL"
    torch.save({"model_state_dict": state, "optimiser_state_dict": {}, "beta": torch.tensor(0.5),
                "iter_idx": 1000}, path)
    (folder / "flags.json").write_text(json.dumps(flags))
    return path


@pytest.fixture
def genesis_s():
    from models.official_genesis import config_from_flags

    name, fields = config_from_flags(FLAGS, Path("flags.json"))
    assert name == "genesis_s" and fields["image_size"] == (32, 32) and fields["num_slots"] == 4
    torch.manual_seed(0)
    model = models.build("genesis_s", preset=None, **fields).eval()
    for module in model.modules():  # non-trivial batch-norm statistics, as a trained file has
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_official_genesis_s_loads_strictly_and_forwards_the_same(genesis_s, tmp_path: Path) -> None:
    path = _write_official(genesis_s, tmp_path / "checkpoints" / "s" / "1", FLAGS)
    keys = torch.load(path, weights_only=True)["model_state_dict"].keys()
    assert not any(k.startswith(("comp_vae.", "prior_mlp.")) for k in keys)  # one stage: neither exists
    assert {"decoder.seq.1.weight", "att_process.lstm.weight_ih_l0", "prior_linear.weight", "std"} <= set(keys)

    from emorl_eval.evaluate import resolve_checkpoint

    assert resolve_checkpoint(tmp_path / "checkpoints" / "s") == path  # what --ckpt does with the run folder
    loaded = models.load(path)
    assert loaded.model_name == "genesis_s" and loaded.kl_monte_carlo
    assert float(loaded.geco_beta) == 0.5
    x = squares(3, 32)
    noise = zero_noise(genesis_s, 3)
    with torch.no_grad():
        want, got = genesis_s(x, noise=noise), loaded(x, noise=noise)
    assert torch.equal(want.masks, got.masks) and torch.equal(want.recon, got.recon)


def test_a_two_stage_file_with_one_stage_flags_is_one_line(genesis_s, tmp_path: Path) -> None:
    path = _write_official(genesis_s, tmp_path / "run", {**FLAGS, "two_stage": True})
    with pytest.raises(CheckpointError) as info:
        models.load(path)
    text = str(info.value)
    assert "does not fit the genesis" in text and "\n" not in text
