"""MSE against the direct formula; KL passthrough validation."""

from __future__ import annotations

import pytest
import torch

from emorl_eval.errors import DataError
from emorl_eval.metrics import kl_per_image, mse


def test_mse_matches_direct_formula() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 7, 9, generator=g)
    y = torch.rand(5, 3, 7, 9, generator=g)
    want = [((x[i] - y[i]) ** 2).sum().item() / (3 * 7 * 9) for i in range(5)]
    assert mse(x, y).tolist() == pytest.approx(want, rel=1e-6)
    assert torch.equal(mse(x, x), torch.zeros(5, dtype=torch.float64))


def test_mse_hand_made() -> None:
    x = torch.zeros(1, 3, 2, 2)
    y = torch.full((1, 3, 2, 2), 0.5)
    assert mse(x, y).item() == 0.25


@pytest.mark.parametrize(
    "images, recon, match",
    [
        (torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 5), "differ in shape"),
        (torch.rand(2, 3, 4, 4) * 2 - 1.5, torch.rand(2, 3, 4, 4), r"\[0, 1\]"),
        (torch.rand(3, 4, 4), torch.rand(3, 4, 4), r"\[B, C, H, W\]"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, 3, 2, 2), "dtype"),
        (torch.rand(1, 3, 2, 2), torch.full((1, 3, 2, 2), float("nan")), "NaN"),
    ],
)
def test_mse_bad_inputs(images, recon, match) -> None:
    with pytest.raises(DataError, match=match):
        mse(images, recon)


def test_kl_passthrough() -> None:
    kl = torch.tensor([1.5, 0.0, 3.25], requires_grad=True)
    out = kl_per_image(kl, batch_size=3)
    assert out.dtype == torch.float64 and not out.requires_grad
    assert out.tolist() == [1.5, 0.0, 3.25]
    with pytest.raises(DataError, match=r"\[2\]"):
        kl_per_image(kl, batch_size=2)
    with pytest.raises(DataError, match="negative"):
        kl_per_image(torch.tensor([-1.0]))
    with pytest.raises(DataError, match="NaN"):
        kl_per_image(torch.tensor([float("nan")]))
    # a Monte-Carlo estimate may be negative for one image; NaN is still refused
    assert kl_per_image(torch.tensor([-2.5, 4.0]), monte_carlo=True).tolist() == [-2.5, 4.0]
    with pytest.raises(DataError, match="NaN"):
        kl_per_image(torch.tensor([float("nan")]), monte_carlo=True)
