"""Step-indexed schedules of a training run: learning rate and refinement curriculum.

``step`` is the 0-based index of the optimiser step about to run (the first step is 0).
"""

from __future__ import annotations

from typing import Sequence


def refinement_steps_at(curriculum: Sequence[Sequence[int]], step: int) -> int | None:
    """Refinement steps I in force at ``step``.

    ``curriculum`` is ``[[start_step, I], ...]`` sorted by start step; the pair with the largest
    ``start_step <= step`` wins (the reference's ``[[-1, 3], [100000, 1]]`` means I = 3 for steps
    0..99999 and I = 1 from step 100000 on). None when no pair has started (or the curriculum is
    empty): the model keeps its configured I.
    """
    current = None
    for start, iterations in curriculum:
        if step >= start:
            current = int(iterations)
        else:
            break
    return current


def lr_at(
    step: int,
    base_lr: float,
    warmup_steps: int = 0,
    decay_rate: float = 1.0,
    decay_steps: int = 100_000,
) -> float:
    """Learning rate at ``step``.

    Linear warm-up ``base_lr * step / warmup_steps`` for ``step < warmup_steps`` (0 at step 0, as
    the reference's GradualWarmupScheduler with multiplier 1), then
    ``base_lr * decay_rate ** ((step - warmup_steps) / decay_steps)`` (constant when
    ``decay_rate == 1``).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * step / warmup_steps
    if decay_rate == 1.0:
        return base_lr
    return base_lr * decay_rate ** ((step - warmup_steps) / decay_steps)
