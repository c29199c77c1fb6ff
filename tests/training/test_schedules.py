"""LR warm-up/decay values and the refinement curriculum, on hand-computed cases."""

from __future__ import annotations

import pytest

from emorl_eval.training.schedules import lr_at, refinement_steps_at


@pytest.mark.parametrize(
    "step, expected",
    [(0, 3), (1, 3), (99_999, 3), (100_000, 1), (100_001, 1), (250_000, 1)],
)
def test_curriculum_switches_at_the_given_step(step: int, expected: int) -> None:
    # the reference's CLEVR6 / Multi-dSprites curriculum: I = 3, then 1 from step 100K on
    assert refinement_steps_at([[-1, 3], [100_000, 1]], step) == expected


def test_curriculum_three_stages_and_not_started() -> None:
    curriculum = [[10, 3], [20, 2], [30, 1]]
    assert [refinement_steps_at(curriculum, s) for s in (0, 9, 10, 19, 20, 29, 30, 99)] == [None, None, 3, 3, 2, 2, 1, 1]
    assert refinement_steps_at([], 5) is None


def test_warmup_is_linear_from_zero() -> None:
    values = [lr_at(s, 4e-4, warmup_steps=4) for s in range(7)]
    assert values == pytest.approx([0.0, 1e-4, 2e-4, 3e-4, 4e-4, 4e-4, 4e-4], abs=0, rel=1e-12)


def test_no_warmup_is_constant() -> None:
    assert [lr_at(s, 4e-4) for s in (0, 1, 10**6)] == [4e-4, 4e-4, 4e-4]


def test_decay_after_warmup_halves_every_decay_steps() -> None:
    # the reference's scheduler: 0.5 ** ((step - warmup) / 100000) after a 10000-step warm-up
    assert lr_at(10_000, 4e-4, 10_000, 0.5, 100_000) == pytest.approx(4e-4)
    assert lr_at(110_000, 4e-4, 10_000, 0.5, 100_000) == pytest.approx(2e-4)
    assert lr_at(60_000, 4e-4, 10_000, 0.5, 100_000) == pytest.approx(4e-4 / 2**0.5)
    assert lr_at(5_000, 4e-4, 10_000, 0.5, 100_000) == pytest.approx(2e-4)
