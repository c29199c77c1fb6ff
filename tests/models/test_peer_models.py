"""Model-specific behaviour of the comparison models (GENESIS, GENESIS-S, IODINE, Slot Attention)."""

from __future__ import annotations

import math

import pytest
import torch

from emorl_eval import models
from emorl_eval.errors import ConfigError
from emorl_eval.models.presets import resolve_config, training_defaults
from tests.models.conftest import scramble


def _images(h: int, w: int, b: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand((b, 3, h, w), generator=torch.Generator().manual_seed(seed))


# --- GENESIS ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(19, 23), (35, 35)])
def test_genesis_odd_and_non_square_sizes(size: tuple[int, int]) -> None:
    model = models.build("genesis", preset="tiny", image_size=size, num_slots=2)
    out = model(_images(*size), generator=torch.Generator().manual_seed(0))
    assert out.masks.shape == (2, 2, 1, *size) and out.recon.shape == (2, 3, *size)
    assert torch.isfinite(out.loss)


def test_genesis_latents_concatenate_mask_and_component_means() -> None:
    cfg = resolve_config("genesis", "tiny")
    model = models.build("genesis", preset="tiny").eval()
    x = _images(16, 16)
    with torch.no_grad():
        out = model(x, generator=torch.Generator().manual_seed(0))
        again = model(x, generator=torch.Generator().manual_seed(9))
    assert model.latent_dim == cfg.mask_latent_dim + cfg.comp_latent_dim
    dm = cfg.mask_latent_dim
    # the first mask latent's mean depends only on the image, not on the sampling noise
    torch.testing.assert_close(out.latents[:, 0, :dm], again.latents[:, 0, :dm])
    # later ones are conditioned on the sampled z^m_{<k} (autoregressive posterior)
    assert (out.latents[:, 1:, :dm] - again.latents[:, 1:, :dm]).abs().max() > 1e-6


def test_genesis_s_has_one_latent_set() -> None:
    model = models.build("genesis_s", preset="tiny")
    assert model.latent_dim == resolve_config("genesis_s", "tiny").mask_latent_dim
    assert not hasattr(model, "comp_encoder") and not hasattr(model, "comp_prior_mlp")


def test_genesis_registry_names_fix_the_split() -> None:
    with pytest.raises(ConfigError, match="two_stage"):
        models.build("genesis_s", preset="tiny", two_stage=True)
    with pytest.raises(ConfigError, match="two_stage"):
        models.build("genesis", preset="tiny", two_stage=False)
    with pytest.raises(ConfigError, match="likelihood"):
        models.build("genesis", preset="tiny", likelihood="laplace")


def test_genesis_likelihoods() -> None:
    """GMM: -sum log sum_k m_k N(x; y_k, s^2); Gaussian: -sum log N(x; sum_k m_k y_k, s^2)."""
    x = _images(16, 16)
    for likelihood in ("gmm", "gaussian"):
        model = models.build("genesis", preset="tiny", likelihood=likelihood, sigma=0.1).eval()
        with torch.no_grad():
            out = model(x, generator=torch.Generator().manual_seed(0))
        s = 0.1
        if likelihood == "gaussian":
            expected = (0.5 * ((x - out.recon) / s) ** 2 + math.log(s)).sum(dim=(1, 2, 3))
        else:
            dens = torch.exp(-0.5 * ((x.unsqueeze(1) - out.components) / s) ** 2) / s
            expected = -torch.log((out.masks * dens).sum(1)).sum(dim=(1, 2, 3))
        torch.testing.assert_close(out.nll, expected, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("name", ["genesis", "genesis_s"])
def test_genesis_broadcast_mask_decoder(name: str) -> None:
    """``mask_decoder="broadcast"``: masks from a coordinate broadcast decoder, no gated deconv
    left unused, gradients reach it, and the model passes the interface checks."""
    from emorl_eval import conformance

    torch.manual_seed(0)
    model = models.build(name, preset="tiny", mask_decoder="broadcast", image_size=(19, 23))
    assert model.mask_vae.decoder is None
    assert not any(n.startswith("mask_vae.decoder") for n, _ in model.named_parameters())
    out = model(_images(19, 23), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.masks.sum(1), torch.ones_like(out.masks[:, 0]))
    out.loss.backward()
    grads = [p.grad for p in model.mask_decoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    # the mask logits vary over the image for one latent: the coordinates enter the decoder
    logits = model.mask_decoder(torch.zeros(1, model.config.mask_latent_dim))
    assert logits.shape == (1, 1, 19, 23) and logits.std() > 0
    failed = conformance.failed(conformance.run_checks(model, symmetry=False))
    assert not failed, conformance.format_table(failed)
    with pytest.raises(ConfigError, match="mask_decoder"):
        models.build(name, preset="tiny", mask_decoder="mlp")


def test_genesis_geco_moves_beta_like_the_official_rule() -> None:
    model = models.build("genesis", preset="tiny", geco_lr=1e-3, geco_speedup=10.0).train()
    cfg = model.config
    goal = cfg.geco_goal * 3 * 16 * 16
    step = cfg.geco_lr * 64**2 / (16 * 16)
    out = model(_images(16, 16), generator=torch.Generator().manual_seed(0))

    # NLL above the goal: the EMA starts at the NLL and beta shrinks by exp(step * (goal - ema))
    above = type(out)(**{**out.__dict__, "nll": torch.full((2,), goal + 100.0)})
    model.after_backward(above)
    assert float(model.geco_err_ema) == pytest.approx(goal + 100.0)
    assert float(model.geco_beta) == pytest.approx(math.exp(step * -100.0), rel=1e-5)

    # NLL below the goal: the EMA moves by (1 - alpha); beta grows with the speed-up factor
    beta0 = float(model.geco_beta)
    below = type(out)(**{**out.__dict__, "nll": torch.full((2,), goal - 400.0)})
    model.after_backward(below)
    ema = 0.99 * (goal + 100.0) + 0.01 * (goal - 400.0)
    assert float(model.geco_err_ema) == pytest.approx(ema, rel=1e-5)
    factor = math.exp(10.0 * step * (goal - ema)) if goal - ema > 0 else math.exp(step * (goal - ema))
    assert float(model.geco_beta) == pytest.approx(beta0 * factor, rel=1e-5)

    # no update in eval mode or without GECO
    model.eval()
    before = float(model.geco_beta)
    model.after_backward(below)
    assert float(model.geco_beta) == before


def test_genesis_presets_follow_the_sources() -> None:
    official = resolve_config("genesis", "multi_dsprites")
    assert (official.likelihood, official.sigma) == ("gmm", 0.7)
    assert official.geco_goal == pytest.approx(0.5655 - 0.5 * math.log(2 * math.pi))
    b1 = resolve_config("genesis", "textured_dsprites")  # EMORL appendix B.1
    assert (b1.likelihood, b1.sigma) == ("gaussian", 0.1) and b1.geco_lr < official.geco_lr
    assert resolve_config("genesis_s", "textured_dsprites").two_stage is False
    t = training_defaults("genesis", "clevr6")
    assert (t["lr"], t["batch_size"], t["refinement_curriculum"]) == (1e-4, 32, [])


# --- IODINE -------------------------------------------------------------------------------------
def test_iodine_stages_and_refinement_steps() -> None:
    # trained-like weights (the reference init, xavier gain 0.02, makes every slot decode alike)
    model = scramble(models.build("iodine", preset="tiny")).eval()
    x = _images(16, 16)
    with torch.no_grad():
        out = model(x, generator=torch.Generator().manual_seed(0), decode_stages=True)
        three = model(x, refinement_steps=3, generator=torch.Generator().manual_seed(0))
    assert [s.name for s in out.stages] == ["step1", "step2", "step3"]  # I = 2: three decodes
    assert [s.name for s in three.stages] == ["step1", "step2", "step3", "step4"]
    # the first decoded step is the shared initial posterior: identical means in every slot
    first = out.stages[0].means
    torch.testing.assert_close(first, first[:, :1].expand_as(first))
    # refinement differentiates the slots
    assert (out.latents - out.latents[:, :1]).abs().max() > 1e-6
    # the same noise for the steps both runs share: identical first three stages
    for a, b in zip(out.stages, three.stages):
        torch.testing.assert_close(a.means, b.means)
    assert training_defaults("iodine", "clevr6")["refinement_curriculum"] == [[0, 4]]


def test_iodine_trains_through_the_refinement_network() -> None:
    model = models.build("iodine", preset="tiny").train()
    out = model(_images(16, 16), generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    grads = [p.grad for p in model.refine_net.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert model.lambda0.grad is not None


def test_iodine_loss_weights_later_steps_more() -> None:
    model = models.build("iodine", preset="tiny").eval()
    with torch.no_grad():
        out = model(_images(16, 16), generator=torch.Generator().manual_seed(0))
    t = len(out.stages)
    expected = sum((i + 1) / t * float((s.nll + s.kl).mean()) for i, s in enumerate(out.stages))
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)


# --- Slot Attention -----------------------------------------------------------------------------
def test_slot_attention_big_decoder_and_stages() -> None:
    model = models.build("slot_attention", preset="tiny", decoder="big", image_size=(32, 32)).eval()
    with torch.no_grad():
        out = model(_images(32, 32), generator=torch.Generator().manual_seed(0), decode_stages=True)
    assert out.recon.shape == (2, 3, 32, 32)
    assert [s.name for s in out.stages] == ["iter1", "iter2", "iter3"]
    for stage in out.stages:
        assert stage.attention.shape == (2, 3, 32, 32)
        torch.testing.assert_close(stage.attention.sum(1), torch.ones(2, 32, 32), atol=1e-5, rtol=0)
        assert stage.masks is not None
    torch.testing.assert_close(out.latents, out.stages[-1].means)
    # the loss is the per-image squared error, averaged over the batch; no KL
    torch.testing.assert_close(out.nll, (out.recon - _images(32, 32)).pow(2).sum(dim=(1, 2, 3)))
    assert float(out.kl.abs().max()) == 0.0
    with pytest.raises(ConfigError, match="divisible by 16"):
        models.build("slot_attention", preset="tiny", decoder="big", image_size=(35, 35))
