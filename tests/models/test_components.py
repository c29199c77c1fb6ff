"""The shared building blocks against independent computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from emorl_eval.models.components import (
    GECO,
    DualGRU,
    SetAttention,
    SpatialBroadcastDecoder,
    gaussian_nll,
    gmm_nll,
    kl_normal_normal,
    kl_standard_normal,
    position_grid,
    softplus_to_std,
)


def test_softplus_to_std_eq_10_11() -> None:
    s = torch.tensor([-30.0, -1.0, 0.0, 2.0, 79.0, 80.0, 200.0], dtype=torch.float64)
    expected = torch.sqrt(torch.log1p(torch.exp(torch.clamp(s, max=80))) + 1e-5)
    torch.testing.assert_close(softplus_to_std(s), expected)
    assert softplus_to_std(torch.tensor([200.0])).isfinite().all()  # clamped, no overflow
    assert softplus_to_std(torch.tensor([200.0])) == softplus_to_std(torch.tensor([80.0]))


def test_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mq, mp = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    sq, sp = torch.rand(5, 3, generator=g) + 0.1, torch.rand(5, 3, generator=g) + 0.1
    torch.testing.assert_close(kl_normal_normal(mq, sq, mp, sp), kl_divergence(Normal(mq, sq), Normal(mp, sp)))
    torch.testing.assert_close(kl_standard_normal(mq, sq), kl_divergence(Normal(mq, sq), Normal(0.0, 1.0)))


def test_likelihoods_against_normal_log_prob() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 4, 5, generator=g, dtype=torch.float64)
    comps = torch.rand(2, 3, 3, 4, 5, generator=g, dtype=torch.float64)
    logits = torch.randn(2, 3, 1, 4, 5, generator=g, dtype=torch.float64)
    log_masks = logits.log_softmax(dim=1)
    sigma = 0.1
    const = 0.5 * math.log(2 * math.pi) * x[0].numel()  # the reference omits -0.5 log(2 pi)
    recon = (log_masks.exp() * comps).sum(1)
    expected_gauss = -Normal(recon, sigma).log_prob(x).sum(dim=(1, 2, 3)) - const
    torch.testing.assert_close(gaussian_nll(x, recon, sigma), expected_gauss)
    mix = (log_masks.exp() * Normal(comps, sigma).log_prob(x.unsqueeze(1)).exp()).sum(1)
    torch.testing.assert_close(gmm_nll(x, comps, log_masks, sigma), -mix.log().sum(dim=(1, 2, 3)) - const)


def test_position_grid_reproduces_reference_layout() -> None:
    """The reference builds [W, H, 4] and adds it to [H, W] features (a transpose for squares)."""
    s = 7
    ref = torch.cat([
        torch.linspace(1, 0, s).view(s, 1, 1).repeat(1, s, 1), torch.linspace(0, 1, s).view(s, 1, 1).repeat(1, s, 1),
        torch.linspace(0, 1, s).view(1, s, 1).repeat(s, 1, 1), torch.linspace(1, 0, s).view(1, s, 1).repeat(s, 1, 1),
    ], 2)
    assert torch.equal(position_grid(s, s), ref)
    grid = position_grid(3, 5)
    assert grid.shape == (3, 5, 4)
    assert torch.equal(grid[:, 0, 0], torch.tensor([1.0, 0.5, 0.0]))  # channel 0 runs along rows
    assert torch.equal(grid[0, :, 2], torch.linspace(0, 1, 5))       # channel 2 along columns


def test_dual_gru_is_two_independent_grus() -> None:
    """Block-diagonal fusion = two GRUs with PyTorch's gate equations on the two halves."""
    torch.manual_seed(0)
    d = 5
    gru = DualGRU(d, d).double()
    x, h = torch.randn(4, 2 * d, dtype=torch.float64), torch.randn(4, 2 * d, dtype=torch.float64)
    out = gru(x, h)
    for half, sl in ((1, slice(0, d)), (2, slice(d, 2 * d))):
        cell = torch.nn.GRUCell(d, d).double()
        w_ih = getattr(gru, f"weight_ih_{half}")  # rows: reset, update
        w_hh = getattr(gru, f"weight_hh_{half}")
        b4 = slice(0, 2 * d) if half == 1 else slice(2 * d, 4 * d)
        with torch.no_grad():
            cell.weight_ih.copy_(torch.cat([w_ih, getattr(gru, f"weight_in_{half}")]))
            cell.weight_hh.copy_(torch.cat([w_hh, getattr(gru, f"weight_hn_{half}")]))
            cell.bias_ih.copy_(torch.cat([gru.bias_ih[b4], gru.bias_in[sl]]))
            cell.bias_hh.copy_(torch.cat([gru.bias_hh[b4], gru.bias_hn[sl]]))
        torch.testing.assert_close(out[:, sl], cell(x[:, sl], h[:, sl]))


@pytest.mark.parametrize("kind,d,size", [("small", 6, (9, 9)), ("iodine", 5, (7, 6)), ("big", 4, (16, 32))])
def test_decoder_fast_first_layer_and_channels_last_are_exact(kind: str, d: int, size) -> None:
    torch.manual_seed(0)
    dec = SpatialBroadcastDecoder(kind, d, size).double()
    for p in dec.parameters():
        torch.nn.init.normal_(p, 0, 0.3)
    z = torch.randn(3, d, dtype=torch.float64)
    fast = dec(z)
    dec.fast_first_layer, dec.channels_last = False, False
    plain = dec(z)
    assert fast.shape == plain.shape == (3, 4, *size)
    torch.testing.assert_close(fast, plain, rtol=1e-10, atol=1e-10)


def test_set_attention_normalisation() -> None:
    torch.manual_seed(0)
    att = SetAttention(6, 4)
    slots, inputs = torch.randn(2, 3, 4), torch.randn(2, 10, 6)
    k, v = att.keys_values(inputs)
    updates, attn = att.attend(slots, k, v)
    assert updates.shape == (2, 3, 4) and attn.shape == (2, 3, 10)
    torch.testing.assert_close(attn.sum(1), torch.full((2, 10), 1 + 3e-8))
    weights = attn / attn.sum(-1, keepdim=True)
    torch.testing.assert_close(updates, weights @ v)


def test_geco_update_rule() -> None:
    geco = GECO(target=-100.0, alpha=0.9, step_size=0.01, warm_start=2)
    geco.update(torch.tensor(-50.0), step=1)  # before the warm start: nothing
    assert float(geco.geco_C_ema) == 0.0 and float(geco.geco_beta) == pytest.approx(0.55)
    geco.update(torch.tensor(-50.0), step=2)  # warm start: EMA initialised to C - NLL
    assert float(geco.geco_C_ema) == pytest.approx(-50.0)
    geco.update(torch.tensor(-60.0), step=3)  # EMA, then beta <- max(beta - lr * C_ema, 0.55)
    ema = 0.9 * -50.0 + 0.1 * -40.0
    assert float(geco.geco_C_ema) == pytest.approx(ema)
    assert float(geco.geco_beta) == pytest.approx(0.55 - 0.01 * ema)
    # the constraint's value uses the EMA, its gradient the batch NLL, scaled by softplus(beta)
    nll = torch.tensor(-70.0, requires_grad=True)
    c = geco.constraint(nll)
    assert float(c.detach()) == pytest.approx(float(torch.nn.functional.softplus(geco.geco_beta)) * ema)
    c.backward()
    assert float(nll.grad) == pytest.approx(-float(torch.nn.functional.softplus(geco.geco_beta)))
    assert set(dict(geco.named_buffers())) == {"geco_C_ema", "geco_beta"}
