"""Tiny instances of every registered model, for the registry-wide tests."""

from __future__ import annotations

import torch

from emorl_eval import models
from emorl_eval.models.presets import available_presets

#: generic small overrides for a model without a ``tiny`` preset (fields every config has)
SMALL_OVERRIDES = {"image_size": (12, 12), "num_slots": 3, "latent_dim": 8}


def build_tiny(name: str, seed: int = 0) -> models.ObjectCentricModel:
    """Model ``name`` at its ``tiny`` preset, or at its default preset with small image, K and D."""
    torch.manual_seed(seed)
    if "tiny" in available_presets(name):
        return models.build(name, preset="tiny")
    return models.build(name, **SMALL_OVERRIDES)


def tiny_images(model: models.ObjectCentricModel, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Uniform random images ``[batch, 3, H, W]`` at the model's size."""
    h, w = model.image_size
    return torch.rand((batch, 3, h, w), generator=torch.Generator().manual_seed(seed))
