"""Weight initialisation used by the reference EfficientMORL code."""

from __future__ import annotations

from torch import nn


def xavier_init(module: nn.Module, gain: float = 0.02) -> None:
    """Xavier-normal weights (``gain``) and zero biases for every Conv*/Linear inside ``module``
    (the reference's ``init_weights(net, 'xavier')``; other layers keep PyTorch defaults)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
