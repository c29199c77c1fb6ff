"""What variant a run really is: its recipe (every resolved model-config and training field that
changes what is learned) and how that recipe differs from its preset.

Two runs belong to one row of the ablation table only when their recipes are equal and they were
evaluated at the same step; the seed is the only field allowed to differ. A run started with
``--set use_geco=false`` is therefore not pooled with its preset's runs, and a 20-step run never
joins 10,000-step seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: training fields that do not change what a run learns (where it writes, how often it logs,
#: where it runs) or that identify a run rather than its recipe (seed, parent, step budget)
NON_RECIPE_TRAIN_FIELDS = frozenset({
    "model", "preset", "model_overrides", "seed", "out", "data", "steps", "log_every", "ckpt_every", "device",
    "progress", "max_minutes", "num_workers", "init_from", "deterministic", "ddp_find_unused_parameters",
})


@dataclass(frozen=True)
class Variant:
    """A run's recipe.

    Attributes:
        key: canonical JSON of the recipe (equal keys = the same variant); "" when the run folder
            records no resolved config (foreign runs: grouped by preset alone).
        differences: ``"field=value"`` where the recipe departs from its preset, sorted.
    """

    key: str
    differences: tuple[str, ...]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def recipe(config: dict[str, Any]) -> dict[str, Any]:
    """The recipe of a run's ``config.json``: ``model.<field>`` for every model-config field and
    ``train.<field>`` for every training field outside :data:`NON_RECIPE_TRAIN_FIELDS`; fields
    the run predates count with their defaults, so older and newer runs of one recipe agree."""
    from emorl_eval.models.presets import config_defaults, dataclass_defaults
    from emorl_eval.training.config import TrainConfig

    model = config.get("model_name") or (config.get("train") or {}).get("model")
    out: dict[str, Any] = {}
    model_config = {**(config_defaults(str(model)) if model else {}), **(config.get("model_config") or {})}
    for key, value in model_config.items():
        out[f"model.{key}"] = _plain(value)
    train = {**dataclass_defaults(TrainConfig), **(config.get("train") or {})}
    for key, value in train.items():
        if key not in NON_RECIPE_TRAIN_FIELDS:
            out[f"train.{key}"] = _plain(value)
    return out


def preset_recipe(model: str, preset: str | None) -> dict[str, Any] | None:
    """The recipe a run of ``preset`` with no overrides has (None when the registry cannot
    build it: an unknown plug-in, a renamed preset)."""
    import dataclasses

    from emorl_eval.errors import EmorlEvalError
    from emorl_eval.models import presets
    from emorl_eval.training.config import resolve_train_config

    try:
        model_config = dataclasses.asdict(presets.resolve_config(model, preset))
        train = resolve_train_config(model, "data.h5", "run", preset).to_dict()
    except (EmorlEvalError, TypeError, ValueError):
        return None
    return recipe({"model_config": model_config, "train": train})


def variant_of(config: dict[str, Any]) -> Variant:
    """The :class:`Variant` of a run's ``config.json`` (model name and preset read from it)."""
    if not config.get("model_config"):
        return Variant("", ())
    own = recipe(config)
    key = json.dumps(own, sort_keys=True)
    model = config.get("model_name") or (config.get("train") or {}).get("model")
    preset = config.get("preset") or (config.get("train") or {}).get("preset")
    base = preset_recipe(str(model), preset) if model else None
    if base is None:
        return Variant(key, ())
    differences = tuple(sorted(
        f"{name.split('.', 1)[1]}={json.dumps(value, separators=(',', ':'))}"
        for name, value in own.items() if name in base and base[name] != value
    ))
    return Variant(key, differences)
