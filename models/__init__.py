"""Model registry: every model of emorl-eval behind one interface.

    >>> import models
    >>> models.available()
    ['emorl', ...]
    >>> model = models.build("emorl", preset="tetrominoes", num_slots=5)
    >>> model = models.load("runs/x/checkpoint.pt")           # our checkpoints
    >>> model = models.load("official.pth", preset="clevr6")   # official EfficientMORL ones

Models are registered by name -> "module:Class" and imported lazily. Code outside ``models/``
never branches on a model's name; it uses :class:`models.interface.ObjectCentricModel`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)

# name -> "module:Class"; a model's module defines the class, its config dataclass
# (``Class.config_class``) and registers its presets in ``models.presets``.
_REGISTRY: dict[str, str] = {
    "emorl": "emorl_eval.models.efficient_morl:EfficientMORL",
    # comparison models (models/genesis.py, models/iodine.py, models/slot_attention.py)
    "genesis": "emorl_eval.models.genesis:Genesis",
    "genesis_s": "emorl_eval.models.genesis:GenesisS",
    "iodine": "emorl_eval.models.iodine:IODINE",
    "slot_attention": "emorl_eval.models.slot_attention:SlotAttention",
}

__all__ = [
    "DecodedScene",
    "EquivarianceProbe",
    "ModelOutput",
    "ObjectCentricModel",
    "StageOutput",
    "available",
    "build",
    "load",
    "model_class",
]


def available() -> list[str]:
    """Names of the registered models."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[ObjectCentricModel]:
    """The class registered under ``name``; raises ConfigError for an unknown name."""
    from emorl_eval.errors import ConfigError

    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available())}")
    module_name, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def build(name: str, preset: str | None = None, **overrides: Any) -> ObjectCentricModel:
    """Build model ``name`` with the hyper-parameters of ``preset`` and field overrides."""
    from emorl_eval.models.presets import resolve_config

    from emorl_eval.models.presets import default_preset

    cls = model_class(name)
    model = cls(resolve_config(name, preset, overrides))
    # recorded in checkpoints (informative only: checkpoints carry the full resolved config)
    model.preset = preset if preset is not None else default_preset(name)  # type: ignore[attr-defined]
    return model


def load(path: str | Path, preset: str | None = None, map_location: str = "cpu") -> ObjectCentricModel:
    """Load a checkpoint: ours (self-describing) or an official EfficientMORL one (needs preset)."""
    from emorl_eval.models.checkpoints import load_model

    return load_model(Path(path), preset=preset, map_location=map_location)
