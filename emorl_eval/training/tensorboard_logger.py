"""TensorBoard logging of a training run (``emorl-eval train --tensorboard``).

Event files go into the run folder itself, so ``tensorboard --logdir runs/`` shows one run per
folder. Logged on rank 0 only:

- every ``metrics.csv`` row as scalars ``train/<column>`` at its step (loss, nll, kl, GECO terms,
  lr, grad_norm, steps_per_s, ...);
- every ``image_every`` steps (and at the last step) one image ``decomposition``: a grid with one
  row per image of a fixed batch (the first ``num_images`` images of the training split) and the
  columns input, reconstruction and, per slot, the masked component ``mask_k * component_k``.

A resumed run opens the writer with ``purge_step`` at the first step it re-computes, so TensorBoard
drops the events an interrupted invocation wrote after its last checkpoint: no step appears twice.
Needs the ``tensorboard`` package (``pip install -e ".[tensorboard]"``); without it
:func:`require_tensorboard` raises a one-line :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from emorl_eval.errors import ConfigError

#: the tag of the decomposition grid
IMAGE_TAG = "decomposition"
#: prefix of the scalar tags
SCALAR_PREFIX = "train/"


@dataclasses.dataclass(frozen=True)
class TensorBoardOptions:
    """What to log: the decomposition grid every ``image_every`` steps, of ``num_images`` images."""

    image_every: int = 1000
    num_images: int = 8
    seed: int = 0


def require_tensorboard() -> None:
    """Raise a one-line :class:`ConfigError` when ``torch.utils.tensorboard`` cannot be used."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError('--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]" '
                          "(or pip install tensorboard)") from None


def decomposition_grid(images: Tensor, recon: Tensor, masks: Tensor, components: Tensor, pad: int = 2) -> Tensor:
    """One row per image: input, reconstruction, then ``masks[:, k] * components[:, k]`` per slot.

    Args:
        images: ``[B, C, H, W]`` in [0, 1].
        recon: ``[B, C, H, W]``.
        masks: ``[B, K, 1, H, W]``.
        components: ``[B, K, C, H, W]``.
        pad: white pixels between cells.

    Returns:
        ``[C, B * (H + pad) + pad, (K + 2) * (W + pad) + pad]`` in [0, 1].
    """
    cells = torch.cat([images[:, None], recon[:, None], masks * components], dim=1).float().clamp(0, 1)
    b, n, c, h, w = cells.shape
    grid = torch.ones(c, b * (h + pad) + pad, n * (w + pad) + pad)
    for row in range(b):
        for col in range(n):
            top, left = pad + row * (h + pad), pad + col * (w + pad)
            grid[:, top:top + h, left:left + w] = cells[row, col].cpu()
    return grid


class TensorBoardLogger:
    """Writes a run's scalars and decomposition grids as TensorBoard events into ``run_dir``.

    Args:
        run_dir: the run folder (event files are written into it).
        dataset: the training dataset (items with ``"image"`` ``[C, H, W]``); its first
            ``options.num_images`` images are the fixed batch of the grids.
        start_step: the step the run starts (or resumes) from.
        log_every: ``--log-every``; a resumed run whose ``start_step`` is off this grid re-logs it.
        options: what to log.
        fresh: True for a run that starts now (not ``--resume``): event files of an earlier attempt
            that died before its first checkpoint are removed.
    """

    def __init__(self, run_dir: str | Path, dataset: Any, start_step: int, log_every: int,
                 options: TensorBoardOptions, fresh: bool = True) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.options = options
        purge = None
        if fresh:
            for old in Path(run_dir).glob("events.out.tfevents.*"):
                old.unlink()
        else:  # drop the events of the steps this invocation computes again
            purge = start_step if start_step % log_every else start_step + 1
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge, flush_secs=30)
        count = min(options.num_images, len(dataset))
        self.images = torch.stack([torch.as_tensor(dataset[i]["image"]) for i in range(count)]).float()

    def log_scalars(self, step: int, row: dict[str, Any]) -> None:
        """One ``metrics.csv`` row: every finite numeric value as ``train/<key>``."""
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(SCALAR_PREFIX + key, float(value), step)

    def wants_images(self, step: int, final: bool) -> bool:
        """True at multiples of ``image_every`` and at the last step."""
        return final or step % self.options.image_every == 0

    @torch.no_grad()
    def log_decomposition(self, model: torch.nn.Module, step: int, device: torch.device) -> None:
        """Run ``model`` on the fixed batch (eval mode, fixed noise seed, the global RNG state
        untouched) and log the decomposition grid at ``step``."""
        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                generator = torch.Generator(device=device)
                generator.manual_seed(self.options.seed)
                out = model(self.images.to(device), generator=generator)
        finally:
            model.train(was_training)
        grid = decomposition_grid(self.images, out.recon.cpu(), out.masks.cpu(), out.components.cpu())
        self.writer.add_image(IMAGE_TAG, grid, step, dataformats="CHW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
