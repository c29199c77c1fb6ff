"""The resolved configuration of one training run.

A run is described by one :class:`TrainConfig`: the model and preset, the data, the training
hyper-parameters (from ``models.presets.training_defaults(model, preset)``, then explicit options,
then ``--set key=value`` overrides) and the model-config overrides. :func:`resolve_train_config`
builds it from command-line style inputs and validates it; it is written to
``runs/NAME/config.json`` before the first step and stored in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

from emorl_eval.errors import ConfigError


@dataclass
class TrainConfig:
    """Everything that determines a training run.

    Attributes:
        model: registry name (``models.available()``).
        preset: preset of that model (``models.presets.available_presets(model)``) or None.
        data: path of an EfficientMORL-layout ``.h5`` file.
        out: run folder (``runs/NAME``).
        steps: total optimiser steps of the run.
        seed: seeds weights, sampling noise and the data order.
        batch_size: effective (global) batch; split evenly across DDP ranks.
        lr: Adam learning rate after warm-up.
        warmup_steps: linear warm-up from 0 at step 0 to ``lr`` at ``warmup_steps``.
        lr_decay_rate / lr_decay_steps: after warm-up the LR is multiplied by
            ``lr_decay_rate ** ((step - warmup_steps) / lr_decay_steps)`` (1.0 = constant).
        clip_grad_norm: max global gradient norm (None = no clipping).
        refinement_curriculum: ``[[step, I], ...]``: I refinement steps from ``step`` on.
        split: data split trained on (``train``).
        log_every: steps between rows of ``metrics.csv``.
        ckpt_every: steps between checkpoints (one is always written at the end).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        bf16: run the forward pass under bfloat16 autocast.
        num_workers: DataLoader worker processes.
        deterministic: ``torch.use_deterministic_algorithms(True)`` (bit-reproducible runs).
        ddp_find_unused_parameters: DDP's flag, for models whose forward may skip parameters.
        progress: show a tqdm progress bar (rank 0).
        max_minutes: stop after this many wall-clock minutes of this invocation, writing a
            checkpoint first (None = no limit); ``--resume`` continues the run.
        init_from: parent checkpoint (file, run folder or ``zoo:NAME``) whose weights and model
            state start this run; its step counter continues (``emorl_eval.training.lineage``).
        rewarm_steps: with ``init_from``, the fresh optimiser's LR rises linearly from 0 to the
            scheduled LR over this many steps after the parent's step (0 = no re-warm).
        init_modules: with ``init_from``, load only the parent's parameters and buffers under these
            module names (state-dict key prefixes), possibly from another model; the rest starts
            fresh and the step counter starts at 0 (``emorl_eval.training.lineage``). Empty = all.
        freeze_modules: parameters under these module names (state-dict key prefixes) are not
            updated while frozen: their gradients are dropped before clipping and the Adam step
            (gradients still flow through them to earlier modules), and a name that is a whole
            submodule runs in eval mode, so its normalisation layers use and keep their running
            statistics. ``--set 'freeze_modules=["mask_vae"]'`` or
            ``--set freeze_modules=mask_vae,q_mean``.
        freeze_until: the step (0-based, the run's own step counter) from which ``freeze_modules``
            train again; None = frozen for the whole run.
        model_overrides: model-config fields overridden on top of the preset.
    """

    model: str
    data: str
    out: str
    preset: str | None = None
    steps: int = 1000
    seed: int = 0
    batch_size: int = 32
    lr: float = 4e-4
    warmup_steps: int = 0
    lr_decay_rate: float = 1.0
    lr_decay_steps: int = 100_000
    clip_grad_norm: float | None = 5.0
    refinement_curriculum: list[list[int]] = field(default_factory=list)
    split: str = "train"
    log_every: int = 100
    ckpt_every: int = 10_000
    device: str = "auto"
    bf16: bool = False
    num_workers: int = 0
    deterministic: bool = False
    ddp_find_unused_parameters: bool = False
    progress: bool = True
    max_minutes: float | None = None
    init_from: str | None = None
    rewarm_steps: int = 500
    init_modules: list[str] = field(default_factory=list)
    freeze_modules: list[str] = field(default_factory=list)
    freeze_until: int | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (the ``train`` block of ``config.json``)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ConfigError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"training config: unknown key(s) {', '.join(unknown)}")
        return cls(**values)


#: fields that identify the run rather than tune it: not settable with --set
_IDENTITY_FIELDS = ("model", "preset", "data", "out", "model_overrides", "init_from", "init_modules")
#: fields whose change makes a resumed run differ from the run it continues
RESUME_INVARIANT_FIELDS = (
    "model", "preset", "data", "seed", "batch_size", "lr", "warmup_steps", "lr_decay_rate",
    "lr_decay_steps", "clip_grad_norm", "refinement_curriculum", "split", "bf16",
    "deterministic", "model_overrides", "rewarm_steps", "freeze_modules", "freeze_until",
)


def training_fields() -> list[str]:
    """Names of the training fields ``--set`` may override."""
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _IDENTITY_FIELDS]


def parse_set_options(items: Iterable[str]) -> list[tuple[str, str]]:
    """``["a=1", "model.b=[1,2]"]`` -> ``[("a", "1"), ("model.b", "[1,2]")]``; malformed -> ConfigError."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        pairs.append((key, value.strip()))
    return pairs


def set_text(value: Any) -> str:
    """A value written as ``--set`` parses it back (:func:`coerce_value`): strings as they are,
    everything else as compact JSON (None as ``null``)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def coerce_value(key: str, text: str, current: Any, annotation: Any = None) -> Any:
    """Convert the string ``text`` of ``--set key=text`` to the type of the field.

    The type comes from the field's current value (bool, int, float, str, list, tuple, dict) or,
    when that is None, from ``annotation``; JSON is accepted for lists and dicts
    (``[[0,3],[100000,1]]``), and a ``list[str]`` field also takes ``a,b,c``. ``none``/``null``
    sets an optional field to None.
    """
    optional = current is None or _allows_none(annotation)
    if text.lower() in ("none", "null") and optional:
        return None
    kind = type(current) if current is not None else _base_type(annotation)
    try:
        if kind is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            number = float(text)  # accepts 2e5
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind is float:
            value = float(text)
            if math.isnan(value):
                raise ValueError
            return value
        if kind is str:
            return text
        if kind is list and typing.get_args(annotation) == (str,) and not text.lstrip().startswith("["):
            return [name.strip() for name in text.split(",") if name.strip()]  # list[str]: --set key=a,b
        if kind in (list, tuple, dict):
            value = json.loads(text)
            if not isinstance(value, list if kind in (list, tuple) else dict):
                raise ValueError
            return _to_tuples(value) if kind is tuple else value
        # unknown type: JSON if it parses, else the raw string
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    except (ValueError, json.JSONDecodeError):
        name = kind.__name__ if isinstance(kind, type) else str(kind)
        raise ConfigError(f"--set {key}={text}: expected a value of type {name}") from None


def resolve_train_config(
    model: str,
    data: str,
    out: str,
    preset: str | None = None,
    *,
    sets: Iterable[str] = (),
    init_from: str | None = None,
    init_modules: Iterable[str] = (),
    **options: Any,
) -> TrainConfig:
    """Resolve a TrainConfig: TrainConfig defaults < the preset's ``training_defaults`` <
    explicit ``options`` (None = not given) < ``sets`` (``key=value`` strings).

    A ``--set`` key names a training field (``lr``, ``warmup_steps``, ...) or a model-config
    field (``num_slots``, ...); ``train.KEY`` / ``model.KEY`` pick one side explicitly, and a bare
    key that exists on both sides sets both. Unknown model, preset or key -> ConfigError.
    ``--set refinement_steps=N`` without a ``refinement_curriculum`` override trains with I = N
    throughout (the preset's curriculum is dropped).
    """
    from emorl_eval import models
    from emorl_eval.models import presets

    models.model_class(model)  # unknown model -> ConfigError naming the available ones
    if preset is None and hasattr(presets, "default_preset"):
        preset = presets.default_preset(model)  # record the preset actually used
    defaults = presets.training_defaults(model, preset)
    model_config = presets.resolve_config(model, preset, {})
    model_fields = _dataclass_fields(model_config)

    values: dict[str, Any] = {"model": model, "preset": preset, "data": str(data), "out": str(out),
                              "init_from": None if init_from is None else str(init_from),
                              "init_modules": _module_names(init_modules)}
    train_names = set(training_fields())
    for key, value in defaults.items():
        if key in train_names:
            values[key] = _normalise(key, value)
        else:
            warnings.warn(f"training_defaults({model}, {preset}): ignoring unknown key {key!r}", stacklevel=2)
    for key, value in options.items():
        if key not in train_names:
            raise ConfigError(f"unknown training option {key!r}")
        if value is not None:
            values[key] = _normalise(key, value)

    train_defaults = TrainConfig(**values)
    train_hints = typing.get_type_hints(TrainConfig)
    model_hints = _type_hints(type(model_config))
    model_overrides: dict[str, Any] = {}
    for key, text in parse_set_options(sets):
        side, _, name = key.rpartition(".")
        if side not in ("", "train", "model"):
            raise ConfigError(f"--set {key}: prefix must be train. or model.")
        to_train = side in ("", "train") and name in train_names
        to_model = side in ("", "model") and name in model_fields
        if not (to_train or to_model):
            raise ConfigError(
                f"--set {key}: unknown key; training keys: {', '.join(sorted(train_names))}; "
                f"model keys: {', '.join(sorted(model_fields))}"
            )
        if to_train:
            current = values.get(name, getattr(train_defaults, name))
            values[name] = _normalise(name, coerce_value(key, text, current, train_hints.get(name)))
        if to_model:
            current = model_overrides.get(name, getattr(model_config, name))
            model_overrides[name] = coerce_value(key, text, current, model_hints.get(name))
    if model_overrides:
        presets.resolve_config(model, preset, model_overrides)  # validates the combination
    explicit_curriculum = any(k.rpartition(".")[2] == "refinement_curriculum" for k, _ in parse_set_options(sets))
    if "refinement_steps" in model_overrides and not explicit_curriculum:
        # --set refinement_steps=N means "train with N": the preset's curriculum would override it
        values["refinement_curriculum"] = []
    values["model_overrides"] = model_overrides
    config = TrainConfig(**values)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Raise ConfigError for values no run can use."""
    positive = ("steps", "batch_size", "log_every", "ckpt_every", "lr_decay_steps")
    for name in positive:
        if getattr(config, name) < 1:
            raise ConfigError(f"{name}={getattr(config, name)}: must be >= 1")
    if config.max_minutes is not None and not config.max_minutes > 0:
        raise ConfigError(f"max_minutes={config.max_minutes}: must be > 0")
    if config.init_modules and not config.init_from:
        raise ConfigError("--init-modules needs --init-from (the parent whose modules to load)")
    if not _valid_module_names(config.init_modules):
        raise ConfigError(f"--init-modules {','.join(map(str, config.init_modules))}: expected module names such as encoder,decoder")
    if not _valid_module_names(config.freeze_modules):
        raise ConfigError(f"freeze_modules={config.freeze_modules}: expected module names such as mask_vae,q_mean")
    if config.freeze_until is not None and (config.freeze_until < 0 or not config.freeze_modules):
        raise ConfigError(f"freeze_until={config.freeze_until}: needs freeze_modules and a step >= 0")
    if config.warmup_steps < 0 or config.num_workers < 0 or config.rewarm_steps < 0:
        raise ConfigError("warmup_steps, rewarm_steps and num_workers must be >= 0")
    if not config.lr > 0:
        raise ConfigError(f"lr={config.lr}: must be > 0")
    if config.clip_grad_norm is not None and not config.clip_grad_norm > 0:
        raise ConfigError(f"clip_grad_norm={config.clip_grad_norm}: must be > 0 or none")
    curriculum = config.refinement_curriculum
    for pair in curriculum:
        if (
            not isinstance(pair, (list, tuple)) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair) or pair[1] < 0
        ):
            raise ConfigError(f"refinement_curriculum {curriculum}: expected [[step, I], ...] with integer I >= 0")
    starts = [pair[0] for pair in curriculum]
    if starts != sorted(starts):
        raise ConfigError(f"refinement_curriculum {curriculum}: steps must be increasing")


# --- helpers ----------------------------------------------------------------------------------
def _normalise(key: str, value: Any) -> Any:
    """Canonical forms: curriculum as a list of [int, int]; clip True -> 5.0, False/0 -> None."""
    if key == "refinement_curriculum":
        try:
            return [[int(s), int(i)] for s, i in (value or [])]
        except (TypeError, ValueError):
            raise ConfigError(f"refinement_curriculum {value!r}: expected [[step, I], ...]") from None
    if key == "clip_grad_norm":
        if value is True:
            return 5.0
        if value is False or value is None or value == 0:
            return None
        return float(value)
    if key == "freeze_modules":
        return _module_names(value or [])
    if key in ("lr", "lr_decay_rate") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _module_names(names: Iterable[Any]) -> list[str]:
    """Module names as state-dict key prefixes: ``" mask_vae."`` -> ``"mask_vae"``."""
    return [str(m).strip(" .") for m in names]


def _valid_module_names(names: list[Any]) -> bool:
    return all(isinstance(m, str) and m.strip(" .") for m in names)


def _dataclass_fields(config: Any) -> set[str]:
    if not dataclasses.is_dataclass(config):
        raise ConfigError(f"model config {type(config).__name__} is not a dataclass")
    return {f.name for f in dataclasses.fields(config)}


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: fall back to current values
        return {}


def _allows_none(annotation: Any) -> bool:
    return annotation is not None and type(None) in typing.get_args(annotation)


def _base_type(annotation: Any) -> Any:
    """``float | None`` -> float; ``list[list[int]]`` -> list; unknown -> None."""
    if annotation is None:
        return None
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _base_type(args[0])
    if origin is not None:
        return origin
    return annotation if isinstance(annotation, type) else None


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
