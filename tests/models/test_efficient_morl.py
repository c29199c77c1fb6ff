"""EfficientMORL behind the common interface: shapes, counts, masks, gradients, determinism."""

from __future__ import annotations

import pytest
import torch

from emorl_eval import models
from emorl_eval.models.efficient_morl import EfficientMORL, count_parameters
from emorl_eval.models.presets import available_presets, resolve_config, training_defaults
from tests.models.conftest import small_model

ALL_PRESETS = available_presets("emorl")


def test_registry_and_presets() -> None:
    assert "emorl" in models.available()
    assert models.model_class("emorl") is EfficientMORL
    for name in ["tetrominoes", "multi_dsprites", "clevr6", "tetrominoes_no_geco", "tetrominoes_bottom_up_prior",
                 "tetrominoes_reversed_prior", "clevr6_no_dualgru", "clevr6_no_geco"]:
        assert name in ALL_PRESETS
    cfg = resolve_config("emorl", "clevr6", {"num_slots": 5})
    assert (cfg.num_slots, cfg.latent_dim, cfg.image_size, cfg.likelihood, cfg.decoder) == (5, 64, (96, 96), "gmm", "iodine")
    assert resolve_config("emorl", "tetrominoes_reversed_prior").prior == "reversed"
    assert resolve_config("emorl", "clevr6_no_dualgru").dual_gru is False
    t = training_defaults("emorl", "clevr6")
    assert t["refinement_curriculum"] == [[0, 3], [100_000, 1]] and t["lr"] == 4e-4 and t["clip_grad_norm"] == 5.0
    assert training_defaults("emorl", "tetrominoes")["refinement_curriculum"] == [[0, 3]]
    assert models.build("emorl", preset="clevr6_no_geco").training_schedule() == training_defaults("emorl", "clevr6_no_geco")
    assert models.build("emorl", preset="tetrominoes").training_schedule()["steps"] == 200_000


def test_bad_config_is_a_config_error() -> None:
    from emorl_eval.errors import ConfigError

    with pytest.raises(ConfigError, match="prior"):
        resolve_config("emorl", "tetrominoes", {"prior": "sideways"})
    with pytest.raises(ConfigError, match="unknown config key"):
        resolve_config("emorl", "tetrominoes", {"slots": 3})
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_config("emorl", "tetris")
    with pytest.raises(ConfigError, match="integer"):
        resolve_config("emorl", "tetrominoes", {"num_slots": "many"})


@pytest.mark.parametrize("preset,count", [("tetrominoes", 467_236), ("clevr6", 666_500), ("multi_dsprites", 666_500)])
def test_parameter_counts_match_reference(preset: str, count: int) -> None:
    assert count_parameters(models.build("emorl", preset=preset)) == count


@pytest.mark.parametrize("preset", ALL_PRESETS)
def test_forward_shapes_every_variant(preset: str) -> None:
    model = small_model(preset)
    b, (h, w), k, d = 2, model.image_size, model.num_slots, model.latent_dim
    images = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = model(images, generator=torch.Generator().manual_seed(0), decode_stages=True)
    assert out.loss.shape == ()
    assert out.nll.shape == (b,) and out.kl.shape == (b,)
    assert out.recon.shape == (b, 3, h, w)
    assert out.masks.shape == (b, k, 1, h, w) and out.components.shape == (b, k, 3, h, w)
    assert out.latents.shape == (b, k, d)
    cfg = model.config
    assert [s.name for s in out.stages] == ([f"layer{i + 1}" for i in range(cfg.num_layers)]
                                           + [f"refine{i + 1}" for i in range(cfg.refinement_steps)])
    for stage in out.stages:
        assert stage.means.shape == (b, k, d)
        assert stage.masks is not None and stage.masks.shape == (b, k, 1, h, w)
        assert stage.recon is not None and stage.recon.shape == (b, 3, h, w)
        assert torch.isfinite(stage.nll).all()
    for stage in out.stages[:cfg.num_layers]:  # the bottom-up layers attend over pixels
        assert stage.attention.shape == (b, k, h, w)
        torch.testing.assert_close(stage.attention.sum(1), torch.ones(b, h, w), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.masks.sum(1), torch.ones(b, 1, h, w), atol=1e-5, rtol=0)
    assert torch.isfinite(out.nll).all() and torch.isfinite(out.kl).all() and (out.kl >= 0).all()
    assert out.recon.min() >= 0 and out.recon.max() <= 1
    torch.testing.assert_close(out.recon, (out.masks * out.components).sum(1))
    # decode / sample_prior
    scene = model.decode(out.latents)
    assert scene.recon.shape == (b, 3, h, w) and scene.mask_logits.shape == (b, k, 1, h, w)
    z = model.sample_prior(3, generator=torch.Generator().manual_seed(0))
    assert z.shape == (3, k, d) and torch.isfinite(z).all()


def test_refinement_steps_override_and_zero(tiny_images: torch.Tensor) -> None:
    model = small_model()
    out = model(tiny_images, refinement_steps=0, generator=torch.Generator().manual_seed(0))
    assert [s.name for s in out.stages] == ["layer1", "layer2", "layer3"]
    # with I = 0 the final stage is the last bottom-up layer
    torch.testing.assert_close(out.latents, out.stages[-1].means)
    out4 = model(tiny_images, refinement_steps=4, generator=torch.Generator().manual_seed(0))
    assert out4.stages[-1].name == "refine4"


def test_nll_kl_are_per_image(tiny_images: torch.Tensor) -> None:
    """Image b's NLL/KL do not depend on the other images of the batch."""
    model = small_model().eval()
    noise = model.draw_noise(2, generator=torch.Generator().manual_seed(3))
    out = model(tiny_images, noise=noise)
    single = model(tiny_images[1:], noise=type(noise)(*(t[1:] for t in (noise.z0, noise.layers, noise.prior, noise.refine))))
    # refinement differentiates the batch-mean loss, so the gradient scale differs by 1/B; the
    # LayerNorm of the gradient removes the scale up to its eps: compare without refinement
    out0 = model(tiny_images, refinement_steps=0, noise=noise)
    single0 = model(tiny_images[1:], refinement_steps=0,
                    noise=type(noise)(noise.z0[1:], noise.layers[1:], noise.prior[1:], noise.refine[1:]))
    torch.testing.assert_close(out0.nll[1:], single0.nll)
    torch.testing.assert_close(out0.kl[1:], single0.kl)
    torch.testing.assert_close(out.nll[1:], single.nll, rtol=1e-3, atol=1e-2)


def test_gradients_reach_every_parameter(tiny_images: torch.Tensor) -> None:
    for preset in ["tetrominoes", "clevr6_no_dualgru", "tetrominoes_bottom_up_prior"]:
        model = small_model(preset, image_size=(8, 8)).train()
        images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        out = model(images, generator=torch.Generator().manual_seed(0))
        out.loss.backward()
        dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
                or p.grad.abs().sum() == 0]
        assert dead == [], f"{preset}: no gradient for {dead}"


def test_seeded_forward_is_deterministic(tiny_images: torch.Tensor) -> None:
    model = small_model()
    a = model(tiny_images, generator=torch.Generator().manual_seed(7))
    b = model(tiny_images, generator=torch.Generator().manual_seed(7))
    c = model(tiny_images, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.loss, b.loss) and torch.equal(a.recon, b.recon) and torch.equal(a.latents, b.latents)
    assert not torch.equal(a.latents, c.latents)


def test_no_grad_forward_equals_grad_forward(tiny_images: torch.Tensor) -> None:
    """Under ``torch.no_grad`` refinement still gets its gradients and computes the same values."""
    model = small_model().eval()
    noise = model.draw_noise(2, generator=torch.Generator().manual_seed(0))
    with_grad = model(tiny_images, noise=noise)
    with torch.no_grad():
        without = model(tiny_images, noise=noise)
    assert not without.loss.requires_grad
    torch.testing.assert_close(with_grad.latents.detach(), without.latents)
    torch.testing.assert_close(with_grad.nll.detach(), without.nll)


def test_reference_mode_gives_same_values_and_gradients(tiny_images: torch.Tensor) -> None:
    """create_graph + plain decoding (the reference's way) vs our faster path: same math."""
    model = small_model().train()
    noise = model.draw_noise(2, generator=torch.Generator().manual_seed(0))
    grads = []
    for ref in (False, True):
        model.zero_grad()
        model.reference_mode = ref
        out = model(tiny_images, noise=noise)
        out.loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        grads[-1]["loss"] = out.loss.detach()
    model.reference_mode = False
    for name in grads[0]:
        # (some entries are zero up to rounding, e.g. the mask-logit bias under the softmax over K)
        scale = float(grads[1][name].abs().max())
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-5 * scale + 1e-9, msg=name)


def test_geco_schedule(tiny_images: torch.Tensor) -> None:
    model = small_model("tetrominoes", geco_warm_start=2).train()
    g = model.geco
    assert float(g.geco_beta) == pytest.approx(0.55) and float(g.geco_C_ema) == 0.0
    nlls = []
    for step in range(4):
        model.on_train_step(step)
        out = model(tiny_images, generator=torch.Generator().manual_seed(step))
        model.after_backward(out)
        nlls.append(float(out.nll.detach().mean()))
    c = g.target
    ema = c - nlls[2]
    ema = 0.99 * ema + 0.01 * (c - nlls[3])
    assert float(g.geco_C_ema) == pytest.approx(ema, rel=1e-5)
    assert float(g.geco_beta) == pytest.approx(max(0.55 - 1e-6 * ema, 0.55), rel=1e-6)
    assert "geco_beta" in out.extras and "geco_C_ema" in out.extras


def test_wrong_image_size_is_a_data_error(tiny_images: torch.Tensor) -> None:
    from emorl_eval.errors import DataError

    model = small_model()
    with pytest.raises(DataError, match=r"expects \[B, 3, 12, 12\]"):
        model(tiny_images[:, :, :10, :10])
    with pytest.raises(ValueError, match="noise.layers"):
        noise = model.draw_noise(2)
        noise.layers = noise.layers[:, :, :2]
        model(tiny_images, noise=noise)
