"""GENESIS-v2: official parameter counts, presets, randomness from the generator (the IC-SBP seed
map included), the symmetry claims its design supports, and the IC-SBP / decoder formulas."""

from __future__ import annotations

import math

import pytest
import torch

from emorl_eval import models
from emorl_eval.models.presets import available_presets

#: applied-ai-lab/genesis README: GENESIS-v2 at 64 px (ShapeStacks, ObjectsRoom) and 128 px (Sketchy, APC)
OFFICIAL = {"multi_dsprites": 2_729_422, "objects_room": 2_729_422, "shapestacks": 2_729_422,
            "sketchy": 2_840_270, "apc": 2_840_270}
K = {"multi_dsprites": 5, "objects_room": 7, "shapestacks": 9, "sketchy": 10, "apc": 10, "tetrominoes_cpu": 4}


@pytest.mark.parametrize("preset", sorted(OFFICIAL))
def test_official_parameter_counts(preset: str) -> None:
    with torch.device("meta"):
        model = models.build("genesis_v2", preset=preset)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == OFFICIAL[preset]
    assert model.num_slots == K[preset]


def test_presets() -> None:
    assert set(K) <= set(available_presets("genesis_v2"))
    model = models.build("genesis_v2", preset="tetrominoes_cpu")
    assert model.image_size == (35, 35) and model.num_slots == 4
    out = model(torch.rand(2, 3, 35, 35), generator=torch.Generator().manual_seed(0))
    assert out.masks.shape == (2, 4, 1, 35, 35) and out.recon.shape == (2, 3, 35, 35)


def test_seed_map_comes_from_the_generator() -> None:
    model = models.build("genesis_v2", preset="tiny").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        a = model(x, generator=torch.Generator().manual_seed(5))
        b = model(x, generator=torch.Generator().manual_seed(5))
        c = model(x, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(a.stages[0].masks, b.stages[0].masks, rtol=0, atol=0)
    torch.testing.assert_close(a.nll, b.nll, rtol=0, atol=0)
    assert not torch.equal(a.stages[0].masks, c.stages[0].masks)
    noise = model.draw_noise(2, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    torch.testing.assert_close(noise["rand_pixel"], torch.rand(2, 1, 32, 32, generator=g), rtol=0, atol=0)
    assert noise["eps"].shape == (2, 3, 16)
    with torch.no_grad():
        d = model(x, noise=noise)
    torch.testing.assert_close(a.stages[0].masks, d.stages[0].masks, rtol=0, atol=0)


def test_icsbp_first_mask_is_the_kernel_around_the_seed() -> None:
    """m_1 = clamp(exp(-|c - c_seed|^2 / sigma)), seed at the argmax of the seed map; the last
    mask is the remaining scope."""
    model = models.build("genesis_v2", preset="tiny").double().eval()
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    rand = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        enc = torch.relu(model.encoder(x))
        log_m, colour = model.att_process(model.seg_head(enc), rand, 3)
    idx = int(rand.flatten().argmax())
    seed = colour.flatten(2)[0, :, idx].view(1, -1, 1, 1)
    alpha = torch.exp(-((colour - seed) ** 2).sum(1) / model.att_process.log_sigma.detach().exp()).clamp(0.01, 0.99)
    torch.testing.assert_close(log_m[:, 0, 0].exp(), alpha)
    assert float(alpha.flatten()[idx]) == pytest.approx(0.99)
    torch.testing.assert_close(log_m.exp().sum(1), torch.ones(1, 1, 32, 32, dtype=torch.float64))
    assert float(model.att_process.log_sigma.detach()) == pytest.approx(math.log(1 / (3 * math.log(2))))


def test_symmetry_claims() -> None:
    from emorl_eval.symmetry import check_model

    model = models.build("genesis_v2", preset="tiny")
    claims = {p.name: p.claimed for p in model.equivariance_probes()}
    assert claims == {"inference": False, "decoder": True, "prior": False}
    assert model.slot_equivariant is False
    df = check_model(model, batch_size=2, seeds=0)
    decoder = df[df["component"] == "decoder"]
    assert len(decoder) and decoder["passed"].all()
    ordered = df[df["component"].isin(["inference", "prior"]) & ~df["claimed"]]
    assert len(ordered) and not ordered["passed"].all()  # measured: the slot order matters


def test_montecarlo_kl_option() -> None:
    model = models.build("genesis_v2", preset="tiny").eval()
    x = torch.rand(2, 3, 32, 32)
    noise = model.draw_noise(2, torch.Generator().manual_seed(0))
    closed = model(x, noise=noise).kl
    model.config.montecarlo_kl = True
    mc = model(x, noise=noise).kl
    assert (closed >= 0).all() and not torch.allclose(closed, mc)


def test_check_model_passes(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli_run import run_cli

    code, out, err = run_cli(["check-model", "genesis_v2", "--preset", "tiny"], capsys)
    assert code == 0, out + err
    assert "decoder slot equivariance" in out and "FAIL" not in out
