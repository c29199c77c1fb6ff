"""Model registry: every model of emorl-eval, built-in or plug-in, behind one interface.

    >>> from emorl_eval import models
    >>> models.available()
    ['emorl', ...]
    >>> model = models.build("emorl", preset="tetrominoes", num_slots=5)
    >>> model = models.build("my_pkg.my_model:MyModel")       # a plug-in, ad hoc
    >>> model = models.load("runs/x/checkpoint.pt")           # our checkpoints (plug-ins too)
    >>> model = models.load("official.pth", preset="clevr6")   # official EfficientMORL ones
    >>> model = models.load("genesis_run/model.ckpt-FINAL")    # official GENESIS(-v2): flags.json beside it

A model name is one of:

* a built-in name (``emorl``, ``genesis``, ``genesis_s``, ``genesis_v2``, ``iodine``, ``slot_attention``);
* the name of an entry point in the group :data:`ENTRY_POINT_GROUP` (``emorl_eval.models``) that
  an installed package declares, e.g. in its ``pyproject.toml``::

      [project.entry-points."emorl_eval.models"]
      kmeans = "my_model.kmeans:SoftKMeans"

* an import spec ``package.module:Class`` (tried from the installed packages, then from the
  current directory).

Every target is a subclass of :class:`emorl_eval.models.interface.ObjectCentricModel` with a
``config_class`` dataclass (see that module for what a plug-in must and may provide). Models are
imported lazily. Code outside this package never branches on a model's name.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from emorl_eval.models.interface import (
    DecodedScene,
    EquivarianceProbe,
    ModelOutput,
    ObjectCentricModel,
    StageOutput,
)

#: entry point group through which installed packages register plug-in models
ENTRY_POINT_GROUP = "emorl_eval.models"

# name -> "module:Class"; a model's module defines the class, its config dataclass
# (``Class.config_class``) and registers its presets in ``emorl_eval.models.presets``.
_REGISTRY: dict[str, str] = {
    "emorl": "emorl_eval.models.efficient_morl:EfficientMORL",
    # comparison models (models/genesis.py, models/genesis_v2.py, models/iodine.py, models/slot_attention.py)
    "genesis": "emorl_eval.models.genesis:Genesis",
    "genesis_s": "emorl_eval.models.genesis:GenesisS",
    "genesis_v2": "emorl_eval.models.genesis_v2:GenesisV2",
    "iodine": "emorl_eval.models.iodine:IODINE",
    "slot_attention": "emorl_eval.models.slot_attention:SlotAttention",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "DecodedScene",
    "EquivarianceProbe",
    "ModelOutput",
    "ObjectCentricModel",
    "StageOutput",
    "available",
    "build",
    "builtin",
    "is_plugin",
    "load",
    "model_class",
    "plugin_spec",
]


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    """Plug-in name -> "module:Class" of every installed entry point in the group."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def builtin() -> list[str]:
    """Names of the models shipped with emorl-eval."""
    return sorted(_REGISTRY)


def available() -> list[str]:
    """Names of the built-in models and of the installed plug-ins (entry points)."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def is_plugin(name: str) -> bool:
    """Whether ``name`` is an entry-point plug-in or an import spec, not a built-in model."""
    return name not in _REGISTRY


def _import_spec(spec: str, label: str) -> Any:
    """The object ``module:attr`` names; ModelError (one line) when it cannot be imported."""
    from emorl_eval.errors import ModelError

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ModelError(f"plug-in model {label!r}: expected package.module:Class, got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)  # `--model my_model:Cls` with my_model.py in the working directory
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is reported as one line
        raise ModelError(f"plug-in model {label!r}: cannot import {module_name!r} "
                         f"({type(exc).__name__}: {exc}); is its package installed?") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ModelError(f"plug-in model {label!r}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    return target


def _check_model_class(cls: Any, label: str) -> type[ObjectCentricModel]:
    from emorl_eval.errors import ModelError

    if callable(cls) and not isinstance(cls, type):
        raise ModelError(f"plug-in model {label!r} is the function {getattr(cls, '__qualname__', cls)!r}: name the "
                         f"model class instead (package.module:Class), since checkpoints rebuild a model as "
                         f"Class(config) from the config they store")
    if not (isinstance(cls, type) and issubclass(cls, ObjectCentricModel)):
        raise ModelError(f"plug-in model {label!r} is {cls!r}, not a subclass of "
                         f"emorl_eval.models.interface.ObjectCentricModel")
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise ModelError(f"plug-in model {label!r}: {cls.__name__}.config_class must be a dataclass "
                         f"(the model's hyper-parameters, stored in checkpoints)")
    if not isinstance(getattr(cls, "model_name", None), str):
        raise ModelError(f"plug-in model {label!r}: {cls.__name__}.model_name must be a string")
    return cls


def model_class(name: str) -> type[ObjectCentricModel]:
    """The class registered under ``name`` (built-in, entry point or ``module:Class`` spec).

    Raises:
        ConfigError: an unknown plain name (the message lists the known ones).
        ModelError: a plug-in that cannot be imported or is not a valid model class.
    """
    from emorl_eval.errors import ConfigError

    if name in _REGISTRY:
        module_name, attr = _REGISTRY[name].split(":")
        return getattr(importlib.import_module(module_name), attr)
    if name in _entry_points():
        return _check_model_class(_import_spec(_entry_points()[name], name), name)
    if ":" in name:
        return _check_model_class(_import_spec(name, name), name)
    raise ConfigError(f"unknown model {name!r}; available: {', '.join(available())} "
                      f"(or a plug-in given as package.module:Class)")


def plugin_spec(model: ObjectCentricModel) -> str | None:
    """``"module:Class"`` of a plug-in model (what its checkpoints record so they load again);
    None for a built-in model."""
    cls = type(model)
    spec = f"{cls.__module__}:{cls.__qualname__}"
    return None if spec in _REGISTRY.values() else spec


def build(name: str, preset: str | None = None, **overrides: Any) -> ObjectCentricModel:
    """Build model ``name`` with the hyper-parameters of ``preset`` and field overrides."""
    from emorl_eval.models.presets import default_preset, resolve_config

    cls = model_class(name)
    model = cls(resolve_config(name, preset, overrides))
    # recorded in checkpoints (informative only: checkpoints carry the full resolved config)
    model.preset = preset if preset is not None else default_preset(name)  # type: ignore[attr-defined]
    return model


def load(path: str | Path, preset: str | None = None, map_location: str = "cpu",
         flags: str | Path | None = None) -> ObjectCentricModel:
    """Load a checkpoint: ours (self-describing), an official EfficientMORL one (needs preset) or an
    official GENESIS / GENESIS-v2 one (architecture from ``flags``, default the flags.json beside it)."""
    from emorl_eval.models.checkpoints import load_model

    return load_model(Path(path), preset=preset, map_location=map_location, flags=flags)
