"""Fixtures of the training tests: the tiny model double and a small image file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training import doubles


@pytest.fixture
def tiny(monkeypatch) -> None:
    """Register the ``tiny`` model double (preset ``small``)."""
    doubles.install(monkeypatch)


@pytest.fixture
def tiny_data(tmp_path: Path, tiny) -> Path:
    """24 random 6x6 RGB images the ``tiny`` model can train on."""
    return doubles.write_images(tmp_path / "images.npy")
