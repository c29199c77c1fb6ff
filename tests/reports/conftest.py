"""Fixtures of the reports tests."""

from __future__ import annotations

import pytest

from emorl_eval import models
from tests.reports.toy_model import ToyConfig, ToyModel


@pytest.fixture()
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the toy model is registered (``models.available``/``models.build`` patched)."""
    monkeypatch.setattr(models, "available", lambda: ["toy"])

    def build(name, preset=None, **overrides):
        return ToyModel(ToyConfig(image_size=tuple(overrides.get("image_size", (12, 12)))))

    monkeypatch.setattr(models, "build", build)
