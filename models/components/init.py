"""Weight initialisation used by the reference EfficientMORL code."""

from __future__ import annotations

import math

import torch
from torch import nn

#: weight initialisation schemes of the models' ``init`` config field
INIT_SCHEMES: tuple[str, ...] = ("reference", "standard")


def xavier_init(module: nn.Module, gain: float = 0.02) -> None:
    """Xavier-normal weights (``gain``) and zero biases for every Conv*/Linear inside ``module``
    (the reference's ``init_weights(net, 'xavier')``; other layers keep PyTorch defaults)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def standard_init(model: nn.Module, output_layers: list[nn.Module], rgb_bias: float = 0.1) -> None:
    """The ``init="standard"`` scheme: Xavier-uniform (gain 1) weights and zero biases for every
    Conv*/Linear of ``model``; each decoder output layer in ``output_layers`` (4 channels: RGB
    logits, mask logit) gets small weights (gain 0.1) and RGB biases of ``logit(rgb_bias)``.

    Why: the reference's gain 0.02 shrinks activations about 50x per layer, so a spatial
    broadcast decoder starts with outputs of about 1e-7 and the RGB sigmoid is then driven into
    saturation; training needs many thousands of steps to recover (measured in
    ``benchmarks/learning_curve.py`` runs). This scheme starts from a dark, nearly uniform image
    with live gradients instead.
    """
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight, gain=1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    with torch.no_grad():
        for layer in output_layers:
            nn.init.xavier_uniform_(layer.weight, gain=0.1)
            layer.bias.zero_()
            layer.bias[:3] = math.log(rgb_bias / (1.0 - rgb_bias))
