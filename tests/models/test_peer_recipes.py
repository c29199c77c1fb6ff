"""Options of the comparison models' CPU recipes (issue 23): GENESIS / GENESIS-v2 beta floor and
KL warm-up, Slot Attention's implicit differentiation, the LR decay reaching the optimiser, and
``--init-from`` of a parent written before such a field existed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from emorl_eval import models
from emorl_eval.errors import ConfigError
from emorl_eval.training import resolve_train_config, train


def _images(h: int, w: int, b: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand((b, 3, h, w), generator=torch.Generator().manual_seed(seed))


GENESES = [("genesis", 16), ("genesis_v2", 32)]


@pytest.fixture(scope="module")
def dsprites16_h5(tmp_path_factory) -> Path:
    """8 train + 2 test Multi-dSprites images at 16x16 (Slot Attention's ``tiny`` size)."""
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("data16") / "dsprites16.h5", "multi_dsprites", num=10, seed=0,
                       test_fraction=0.2, size=16)


# --- GENESIS / GENESIS-v2: beta floor ----------------------------------------------------------
@pytest.mark.parametrize("name, side", GENESES)
def test_geco_beta_stops_at_the_floor(name: str, side: int) -> None:
    # NLL far above the goal: GECO's beta falls by exp(step * (goal - ema)) per update
    out_of_reach = None
    betas = {}
    for floor in (None, 0.05):
        extra = {} if floor is None else {"geco_beta_min": floor}
        model = models.build(name, preset="tiny", use_geco=True, geco_lr=1e-2, **extra).train()
        out = model(_images(side, side), generator=torch.Generator().manual_seed(0))
        goal = model.config.geco_goal * 3 * side * side
        out_of_reach = type(out)(**{**out.__dict__, "nll": torch.full((2,), goal + 1000.0)})
        for _ in range(5):
            model.after_backward(out_of_reach)
        betas[floor] = float(model.geco_beta)
    assert betas[None] < 1e-9  # the official clamp, 1e-10, is reached
    assert betas[0.05] == pytest.approx(0.05)


# --- GENESIS / GENESIS-v2: KL warm-up ----------------------------------------------------------
@pytest.mark.parametrize("name, side", GENESES)
@pytest.mark.parametrize("use_geco", [False, True])
def test_kl_warmup_scales_the_kl_weight_in_training(name: str, side: int, use_geco: bool) -> None:
    model = models.build(name, preset="tiny", use_geco=use_geco, kl_beta=2.0, kl_warmup_steps=100).train()
    base = float(model.geco_beta) if use_geco else 2.0
    x = _images(side, side)
    for step, factor in [(0, 0.0), (25, 0.25), (100, 1.0), (400, 1.0)]:
        model.on_train_step(step)
        out = model(x, generator=torch.Generator().manual_seed(1))
        expected = out.nll.mean() + base * factor * out.kl.mean()
        torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-3)
        assert float(out.extras["kl_weight"]) == pytest.approx(base * factor)
    # evaluation: the full weight, whatever step was seen last
    model.on_train_step(10)
    model.eval()
    with torch.no_grad():
        out = model(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out.loss, out.nll.mean() + base * out.kl.mean(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", ["genesis", "genesis_v2"])
def test_kl_weighting_options_are_validated(name: str) -> None:
    with pytest.raises(ConfigError, match="geco_beta_min"):
        models.build(name, preset="tiny", geco_beta_min=0.0)
    with pytest.raises(ConfigError, match="kl_warmup_steps"):
        models.build(name, preset="tiny", kl_warmup_steps=-1)


# --- Slot Attention: implicit differentiation ---------------------------------------------------
def _grads(implicit: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = models.build("slot_attention", preset="tiny", implicit_grad=implicit).train()
    out = model(_images(16, 16), generator=torch.Generator().manual_seed(3))
    out.loss.backward()
    return out.loss.detach(), {n: p.grad for n, p in model.named_parameters()}


def test_implicit_grad_backpropagates_through_the_last_iteration_only() -> None:
    loss_full, full = _grads(False)
    loss_implicit, implicit = _grads(True)
    torch.testing.assert_close(loss_full, loss_implicit)  # the forward pass is the same
    # full backpropagation reaches the learned slot initialisation; the first-order one does not
    assert full["init_slots"] is not None and full["init_slots"].abs().sum() > 0
    assert implicit["init_slots"] is None or implicit["init_slots"].abs().sum() == 0
    # the decoder's gradient is the same (it sees the same slots); the iteration's GRU's is not
    torch.testing.assert_close(full["decoder.decode.0.weight"], implicit["decoder.decode.0.weight"])
    assert not torch.allclose(full["gru.weight_hh"], implicit["gru.weight_hh"])


# --- every option is a --set field ---------------------------------------------------------------
@pytest.mark.parametrize("model, sets, expected", [
    ("genesis", ["geco_beta_min=1e-3", "kl_warmup_steps=2000"], {"geco_beta_min": 1e-3, "kl_warmup_steps": 2000}),
    ("genesis_v2", ["geco_beta_min=0.01", "kl_warmup_steps=1e3"], {"geco_beta_min": 0.01, "kl_warmup_steps": 1000}),
    ("slot_attention", ["implicit_grad=true", "lr_decay_steps=4000"], {"implicit_grad": True}),
])
def test_recipe_options_are_set_fields(model: str, sets: list[str], expected: dict, tmp_path: Path) -> None:
    cfg = resolve_train_config(model, str(tmp_path / "d.h5"), str(tmp_path / "run"), "tetrominoes_cpu", sets=sets)
    assert cfg.model_overrides == expected
    built = models.build(model, "tetrominoes_cpu", **cfg.model_overrides)
    for key, value in expected.items():
        assert getattr(built.config, key) == value
    if model == "slot_attention":
        assert cfg.lr_decay_steps == 4000


# --- LR decay reaches the optimiser --------------------------------------------------------------
def test_lr_decay_reaches_the_optimizer(dsprites16_h5: Path, tmp_path: Path, adam_lrs: list[float]) -> None:
    lrs = adam_lrs
    cfg = resolve_train_config(
        "slot_attention", str(dsprites16_h5), str(tmp_path / "run"), "tiny", steps=7, batch_size=2,
        device="cpu", progress=False,
        sets=["lr=0.004", "warmup_steps=2", "lr_decay_rate=0.5", "lr_decay_steps=2"],
    )
    train(cfg)
    expected = [0.0, 0.002] + [0.004 * 0.5 ** ((s - 2) / 2) for s in range(2, 7)]
    assert lrs == pytest.approx(expected, rel=1e-9, abs=0)
    assert lrs[-1] == pytest.approx(0.001)


# --- --init-from a parent that predates a config field --------------------------------------------
def test_init_from_a_parent_without_a_newer_field(dsprites16_h5: Path, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    common = dict(batch_size=2, device="cpu", progress=False)
    train(resolve_train_config("slot_attention", str(dsprites16_h5), str(parent), "tiny", steps=2, **common))
    # rewrite the parent's checkpoint as an older version wrote it: no implicit_grad in its config
    ckpt_path = parent / "checkpoint_last.pt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert ckpt["config"].pop("implicit_grad") is False
    torch.save(ckpt, ckpt_path)

    child = tmp_path / "child"
    train(resolve_train_config("slot_attention", str(dsprites16_h5), str(child), "tiny", steps=3,
                               init_from=str(ckpt_path), **common))
    assert (child / "checkpoint_last.pt").is_file()
    # a real difference is still refused, and accepted when given again with --set
    with pytest.raises(ConfigError, match="implicit_grad"):
        ckpt["config"]["implicit_grad"] = True
        torch.save(ckpt, ckpt_path)
        train(resolve_train_config("slot_attention", str(dsprites16_h5), str(tmp_path / "c2"), "tiny",
                                   steps=3, init_from=str(ckpt_path), **common))
    train(resolve_train_config("slot_attention", str(dsprites16_h5), str(tmp_path / "c3"), "tiny", steps=3,
                               init_from=str(ckpt_path), sets=["implicit_grad=false"], **common))
    assert math.isfinite(float(torch.load(tmp_path / "c3" / "checkpoint_last.pt", weights_only=True)["step"]))


# --- GENESIS-v2: the Gaussian likelihood of the summed reconstruction -----------------------------
def test_genesis_v2_gaussian_likelihood_scores_the_summed_reconstruction() -> None:
    x = _images(32, 32)
    noise = None
    outs = {}
    for likelihood in ("gmm", "gaussian"):
        torch.manual_seed(0)
        model = models.build("genesis_v2", preset="tiny", sigma=0.1, likelihood=likelihood).eval()
        noise = model.draw_noise(2, torch.Generator().manual_seed(0)) if noise is None else noise
        with torch.no_grad():
            outs[likelihood] = model(x, noise=noise)
    out = outs["gaussian"]
    constant = 0.5 * math.log(2 * math.pi) * x[0].numel()
    expected = (math.log(0.1) + 0.5 * ((x - out.recon) / 0.1) ** 2).sum(dim=(1, 2, 3)) + constant
    torch.testing.assert_close(out.nll, expected, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(outs["gmm"].recon, out.recon)  # same weights, same scene
    assert not torch.allclose(outs["gmm"].nll, out.nll)
    with pytest.raises(ConfigError, match="likelihood"):
        models.build("genesis_v2", preset="tiny", likelihood="laplace")


def test_genesis_v2_cpu_preset_is_the_measured_recipe() -> None:
    from emorl_eval.models.presets import resolve_config, training_defaults

    cfg = resolve_config("genesis_v2", "tetrominoes_cpu")
    # docs/peers_cpu_learning.md: the official mixture at sigma 0.1 did not decompose, the Gaussian did
    assert (cfg.likelihood, cfg.sigma, cfg.use_geco, cfg.kernel, cfg.autoreg_prior) == ("gaussian", 0.1, False,
                                                                                        "gaussian", True)
    assert resolve_config("genesis_v2", "multi_dsprites").likelihood == "gmm"  # official presets unchanged
    assert training_defaults("genesis_v2", "tetrominoes_cpu")["batch_size"] == 16
