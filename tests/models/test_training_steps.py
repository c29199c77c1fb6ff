"""A few optimisation steps lower every registered model's loss on a tiny built-in dataset."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emorl_eval import models
from emorl_eval.data import generate
from emorl_eval.models.presets import training_defaults
from tests.models.tiny import build_tiny

STEPS = 10


def tiny_tetrominoes(size: tuple[int, int], num: int = 4) -> torch.Tensor:
    """``num`` generated Tetrominoes scenes, area-resized to ``size``: ``[num, 3, H, W]`` in [0, 1]."""
    scenes = generate("tetrominoes", num=num, seed=0)
    images = torch.from_numpy(scenes.images).permute(0, 3, 1, 2).float() / 255.0
    return F.interpolate(images, size=size, mode="area")


@pytest.mark.parametrize("name", models.available())
def test_a_few_adam_steps_lower_the_loss(name: str) -> None:
    model = build_tiny(name)
    model.train()
    images = tiny_tetrominoes(model.image_size)

    def loss_now() -> float:
        # same noise every time; train mode so normalisation layers use batch statistics
        with torch.no_grad():
            return float(model(images, generator=torch.Generator().manual_seed(123)).loss)

    before = loss_now()
    # the model's own learning rate where it asks for a larger one (a plug-in with a handful of
    # parameters, such as examples/my_model's soft K-means, trains at 1e-2)
    lr = max(1e-3, float(training_defaults(name, getattr(model, "preset", None)).get("lr", 0.0)))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(STEPS):
        model.on_train_step(step)
        out = model(images, generator=torch.Generator().manual_seed(step))
        optimiser.zero_grad()
        out.loss.backward()
        model.after_backward(out)
        optimiser.step()
    after = loss_now()
    assert after < before - 0.01 * abs(before), (before, after)
