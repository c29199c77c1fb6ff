"""Given official weights, an image and fixed noise, our EfficientMORL computes what the
reference computes: compared with an independent literal re-computation (reference_forward.py)
and with the likelihood / KL formulas applied by hand to the returned tensors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from emorl_eval import models
from emorl_eval.models.efficient_morl import official_to_ours
from tests.models.reference_forward import reference_forward

FIXTURE = "fixtures/official_format_emorl_{}_init.pth"
# preset -> (decoder, likelihood, reference log_scale, K, D), from configs/train/*/EMORL.json
SETTINGS = {"tetrominoes": ("small", "gaussian", math.log(0.3), 4, 32),
            "clevr6": ("iodine", "gmm", math.log(0.1), 7, 64)}


def _official_state(shared_dir: Path, preset: str, scramble_seed: int | None) -> dict[str, torch.Tensor]:
    raw = torch.load(shared_dir / FIXTURE.format(preset), weights_only=True)["model"]
    state = {k[len("module."):]: v.double() for k, v in raw.items()}
    if scramble_seed is not None:
        # trained-like magnitudes so that every part of the network matters in the comparison
        g = torch.Generator().manual_seed(scramble_seed)
        for key, value in state.items():
            if value.dim() >= 2 or key.endswith("bias"):
                fan_in = value[0].numel() if value.dim() >= 2 else 1
                state[key] = torch.randn(value.shape, generator=g, dtype=torch.float64) * (0.8 / fan_in ** 0.5)
    return state


def _our_model(state: dict[str, torch.Tensor], preset: str, image_size: tuple[int, int], steps: int):
    model = models.build("emorl", preset=preset, image_size=image_size, refinement_steps=steps).double().eval()
    model.load_state_dict({official_to_ours(k): v for k, v in state.items()}, strict=True)
    return model


def _check_against_reference(state, preset: str, size, steps: int, prior: str = "reversed_plus_plus",
                              batch: int = 2, scrambled: bool = True) -> None:
    decoder, likelihood, log_scale, k, d = SETTINGS[preset.split("_")[0]]
    model = _our_model(state, preset, size, steps)
    images = torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    noise = model.draw_noise(batch, generator=torch.Generator().manual_seed(1))
    out = model(images, noise=noise)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ref = reference_forward(state, images, noise, K=k, D=d, L=3, I=steps, decoder=decoder,
                                likelihood=likelihood, log_scale=log_scale, prior=prior)
    finally:
        torch.set_default_dtype(previous)
    tol = dict(rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(out.nll, ref["nll"], **tol)
    torch.testing.assert_close(out.kl, ref["kl"], **tol)
    torch.testing.assert_close(out.loss, ref["total_loss"], **tol)
    torch.testing.assert_close(out.masks, ref["masks"], **tol)
    torch.testing.assert_close(out.recon, ref["recon"], **tol)
    torch.testing.assert_close(out.latents, ref["means"], **tol)
    ours_stage = [st for st in out.stages if st.nll is not None]
    assert len(ours_stage) == len(ref["stage_nll"]) == steps + 1
    for st, ref_nll, ref_mu in zip(ours_stage, ref["stage_nll"], ref["stage_means"]):
        torch.testing.assert_close(st.nll, ref_nll, **tol)
        torch.testing.assert_close(st.means, ref_mu, **tol)
    if scrambled and steps > 0:
        # the comparison is not vacuous: refinement moved the posterior and the masks differ per slot
        assert (out.latents - out.stages[2].means).abs().max() > 1e-3
        assert out.masks.std(dim=1).max() > 1e-3


@pytest.mark.parametrize("preset,size,steps,scramble", [
    ("tetrominoes", (10, 10), 1, None),
    ("tetrominoes", (10, 10), 2, 1),
    ("clevr6", (6, 6), 2, 2),  # clevr6 weights on small images (no weight depends on the size)
])
def test_forward_matches_literal_reference(shared_dir: Path, preset: str, size, steps: int, scramble) -> None:
    _check_against_reference(_official_state(shared_dir, preset, scramble), preset, size, steps,
                             batch=2 if preset == "tetrominoes" else 1, scrambled=scramble is not None)


@pytest.mark.slow
@pytest.mark.parametrize("scramble", [None, 1])
def test_forward_matches_literal_reference_full_size(shared_dir: Path, scramble) -> None:
    _check_against_reference(_official_state(shared_dir, "tetrominoes", scramble), "tetrominoes", (35, 35), 3,
                             scrambled=scramble is not None)


@pytest.mark.parametrize("preset,prior", [("tetrominoes_bottom_up_prior", "bottom_up"),
                                          ("tetrominoes_reversed_prior", "reversed"),
                                          ("clevr6_no_dualgru", "reversed_plus_plus")])
def test_ablation_variants_match_literal_reference(preset: str, prior: str) -> None:
    """Variants without an official fixture: our random weights exported under official names."""
    from emorl_eval.models.efficient_morl import ours_to_official

    torch.manual_seed(0)
    model = models.build("emorl", preset=preset, image_size=(8, 8))
    g = torch.Generator().manual_seed(5)
    state = {}
    for key, value in model.state_dict().items():
        official = ours_to_official(key)
        fan_in = value[0].numel() if value.dim() >= 2 else 1
        state[official] = (torch.randn(value.shape, generator=g, dtype=torch.float64) * 0.8 / fan_in ** 0.5
                           if value.dim() >= 2 or key.endswith("bias") else value.double())
    _check_against_reference(state, preset, (8, 8), 2, prior=prior, batch=1)


@pytest.mark.parametrize("preset", ["tetrominoes", "clevr6"])
def test_nll_and_kl_by_hand(shared_dir: Path, preset: str) -> None:
    """NLL from the returned components/masks with eq. 12/13; KL of the final refinement step."""
    decoder, likelihood, _, k, d = SETTINGS[preset]
    size = (10, 10) if preset == "tetrominoes" else (6, 6)
    model = _our_model(_official_state(shared_dir, preset, 3), preset, size, 1)
    images = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = model(images, generator=torch.Generator().manual_seed(0))
    sigma = 0.3 if preset == "tetrominoes" else 0.1
    x, y, pi = images.double(), out.components, out.masks
    if likelihood == "gaussian":
        mean = (pi * y).sum(1)
        nll = (0.5 * (x - mean) ** 2 / sigma**2 + math.log(sigma)).sum(dim=(1, 2, 3))
    else:
        dens = torch.exp(-0.5 * (x.unsqueeze(1) - y) ** 2 / sigma**2) / sigma  # N(x; y, s^2) * sqrt(2 pi)
        nll = -torch.log((pi * dens).sum(1)).sum(dim=(1, 2, 3))
    torch.testing.assert_close(out.nll, nll, rtol=1e-9, atol=1e-6)
    # step-0 KL by hand: sum over layers of KL(q_l || p_l), p_3 = N(0, I),
    # p_l = N(prior_net(fresh sample of q_{l+1})), with torch.distributions' closed form
    noise = model.draw_noise(2, generator=torch.Generator().manual_seed(4))
    out = model(images, noise=noise)
    with torch.no_grad():
        posts, _ = model.bottom_up(model.encode_features(images), noise.z0, noise.layers)
        std = lambda s: torch.sqrt(torch.log(1 + torch.exp(torch.clamp(s, max=80))) + 1e-5)  # noqa: E731
        kl = torch.zeros(2, dtype=torch.float64)
        kl = kl + kl_divergence(Normal(posts[2].mu, std(posts[2].s)), Normal(0.0, 1.0)).sum(dim=(1, 2))
        for layer in (1, 0):
            src = posts[layer + 1]
            z = src.mu + std(src.s) * noise.prior[:, :, layer]
            p_mu, p_s = model.prior(z)
            q = Normal(posts[layer].mu, std(posts[layer].s))
            kl = kl + kl_divergence(q, Normal(p_mu, std(p_s))).sum(dim=(1, 2))
    layer3 = next(st for st in out.stages if st.name == "layer3")
    torch.testing.assert_close(layer3.kl, kl, rtol=1e-9, atol=1e-9)
    assert (kl > 0).all()
