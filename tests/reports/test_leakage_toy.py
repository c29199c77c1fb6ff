"""Leakage against a toy model whose answer is known (0 when slots own their pixels)."""

from __future__ import annotations

import torch

from emorl_eval.reports.leakage import leakage_terms, measure_leakage
from tests.reports.toy_model import ToyConfig, ToyModel


def _images(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def test_independent_slots_do_not_leak() -> None:
    result = measure_leakage(ToyModel(ToyConfig()).eval(), _images(), dims_per_slot=0, steps=3)
    assert result.n_included > 0
    assert 0.0 <= result.score < 1e-6


def test_coupled_slots_leak() -> None:
    result = measure_leakage(ToyModel(ToyConfig(coupled=True)).eval(), _images(), dims_per_slot=2, steps=3)
    assert 0.3 < result.score <= 1.0
    assert set(result.summary().columns) >= {"leakage", "n_included", "leakage_slot1"}


def test_leakage_terms_by_hand() -> None:
    # 1x2 image, 2 slots: slot 0 owns the left pixel. The change is 1 on the left and 0.5 on the
    # right (summed over RGB: 3 and 1.5), so the outside fraction is 1.5 / 4.5 = 1/3.
    recon0 = torch.zeros(3, 1, 2)
    masks0 = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])  # [K=2, 1, 1, 2]
    recon = torch.tensor([[[[1.0, 0.5]]] * 3])  # [S=1, 3, 1, 2]
    outside, total = leakage_terms(recon0, masks0, 0, recon, masks0[None])
    assert torch.allclose(outside / total, torch.tensor([1 / 3]))
    # the slot's mask after the change counts as its own region too
    moved = torch.tensor([[[[1.0, 1.0]]], [[[0.0, 0.0]]]])[None]
    outside, _ = leakage_terms(recon0, masks0, 0, recon, moved)
    assert float(outside) == 0.0


def test_slots_are_numbered_from_1_in_every_output() -> None:
    """The per-dimension table, the summary and the figures (``slot 1``) use one convention."""
    result = measure_leakage(ToyModel(ToyConfig(coupled=True)).eval(), _images(2), dims_per_slot=1, steps=2)
    slots = sorted(set(result.per_triple["slot"]))
    assert slots[0] == 1 and slots == list(range(1, len(slots) + 1))
    assert {f"leakage_slot{k}" for k in slots} <= set(result.summary().columns)
    assert "leakage_slot0" not in result.summary().columns
