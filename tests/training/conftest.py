"""Fixtures of the training tests: the tiny model double and a small Tetrominoes file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training import doubles


@pytest.fixture
def tiny(monkeypatch) -> None:
    """Register the ``tiny`` model double (preset ``small``)."""
    doubles.install(monkeypatch)


@pytest.fixture(scope="session")
def tetrominoes_h5(tmp_path_factory) -> Path:
    """24 train + 4 test Tetrominoes images (35x35) in the EfficientMORL layout."""
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("data") / "tetrominoes.h5", "tetrominoes", num=28, seed=0,
                       test_fraction=1 / 7)


@pytest.fixture
def tiny_data(tetrominoes_h5: Path, tiny) -> Path:
    """The Tetrominoes file, with the ``tiny`` double registered."""
    return tetrominoes_h5


@pytest.fixture(scope="session")
def dsprites32_h5(tmp_path_factory) -> Path:
    """8 train + 2 test Multi-dSprites images at 32x32 (models whose smallest size is 32: GENESIS-v2)."""
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("data32") / "dsprites32.h5", "multi_dsprites", num=10, seed=0,
                       test_fraction=0.2, size=32)


@pytest.fixture(scope="session")
def dsprites16_h5(tmp_path_factory) -> Path:
    """8 train + 2 test Multi-dSprites images at 16x16 (the size of the models' ``tiny`` presets)."""
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("data16") / "dsprites16.h5", "multi_dsprites", num=10, seed=0,
                       test_fraction=0.2, size=16)
