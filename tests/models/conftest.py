"""Small EfficientMORL models for fast tests."""

from __future__ import annotations

import pytest
import torch

from emorl_eval import models

SMALL = {"image_size": (12, 12), "num_slots": 3, "latent_dim": 8, "refinement_steps": 2}


def small_model(preset: str = "tetrominoes", **overrides) -> models.ObjectCentricModel:
    """A tiny model of ``preset`` (same architecture, small image/K/D); seeded init."""
    torch.manual_seed(0)
    values = dict(SMALL)
    if preset.startswith(("clevr6", "multi_dsprites")):
        # the iodine decoder works on (H+10)^2 grids of 64 channels: keep images tiny
        values["image_size"] = (16, 16) if preset.endswith("big_decoder") else (8, 8)
    values.update(overrides)
    return models.build("emorl", preset=preset, **values)


@pytest.fixture
def tiny_images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 12, 12, generator=g)


def scramble(model: torch.nn.Module, seed: int = 0, gain: float = 1.0) -> torch.nn.Module:
    """Re-draw every weight matrix/kernel with std gain/sqrt(fan_in) (a 'trained-like' model whose
    outputs depend strongly on inputs and noise; the reference init is tiny: xavier gain 0.02)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * gain / fan_in ** 0.5)
    return model
