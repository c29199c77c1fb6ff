"""Small helpers shared by the comparison models (GENESIS, Slot Attention, IODINE).

Only what ``models/components/`` does not provide lives here: explicit-noise sampling on the
generator's device, an eval-mode context for the symmetry probes, linear coordinate channels
(GENESIS's and IODINE's decoders; EfficientMORL's use the 4-channel position grid).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn


def randn(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype, drawn from ``generator``.

    The noise is drawn on the generator's device (CPU generators work for any model device) and
    then moved, so a seeded forward pass gives the same numbers on every device.
    """
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(device=like.device, dtype=like.dtype)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Temporarily switch ``module`` to eval mode (BatchNorm uses running statistics, nothing is
    updated), restoring the previous mode afterwards. Used by the symmetry probes so they are pure
    functions of their inputs."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def coord_grid(height: int, width: int, like: Tensor) -> Tensor:
    """Linear coordinate channels in ``[-1, 1]``: ``[2, H, W]`` = (x along W, y along H)."""
    ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=0)

