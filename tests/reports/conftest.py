"""Fixtures of the reports tests."""

from __future__ import annotations

import pytest

from emorl_eval import models
from tests.reports.toy_model import ToyConfig, ToyModel


@pytest.fixture()
def toy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the toy model is registered (``models.available``/``model_class``/``build`` patched)."""
    from emorl_eval.errors import ConfigError

    def model_class(name):
        if name != "toy":
            raise ConfigError(f"unknown model {name!r}")
        return ToyModel

    monkeypatch.setattr(models, "available", lambda: ["toy"])
    monkeypatch.setattr(models, "model_class", model_class)

    def build(name, preset=None, **overrides):
        return ToyModel(ToyConfig(image_size=tuple(overrides.get("image_size", (12, 12)))))

    monkeypatch.setattr(models, "build", build)
