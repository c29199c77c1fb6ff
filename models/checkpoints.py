"""Checkpoints: our self-describing format, and import of official EfficientMORL files.

Our format (a dict loadable with ``torch.load(weights_only=True)``)::

    {"format": "emorl-eval", "version": 1, "model_name": str, "config": dict, "preset": str | None,
     "plugin": str | None, "step": int, "state_dict": dict[str, Tensor], "extra": dict}

``plugin`` is ``"module:Class"`` for a plug-in model (None for built-in ones), so that a plug-in's
checkpoint loads again wherever its package is importable.

Official EfficientMORL checkpoints (``train.py``): ``{"step", "model": DDP state dict with
``module.`` prefixes, "model_opt", "kl_beta"}`` without a config, so they need a preset; their
keys are mapped with :data:`models.efficient_morl.OFFICIAL_KEY_MAP` and loaded strictly.
Official GENESIS / GENESIS-v2 checkpoints (``{"model_state_dict", "optimiser_state_dict", "beta",
"iter_idx", "err_ema"}``) take their architecture from the run's ``flags.json`` (beside the file, or
given as ``flags``): :mod:`models.official_genesis`.
Every problem is a one-line :class:`emorl_eval.errors.CheckpointError`.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from emorl_eval.models import plugin_spec
from emorl_eval.models.interface import ObjectCentricModel

FORMAT = "emorl-eval"
VERSION = 1


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively (a plain, JSON-like config)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_checkpoint(path: str | Path, model: ObjectCentricModel, step: int, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` atomically (temp file in the same folder + ``os.replace``).

    Args:
        path: destination file.
        model: any registered model.
        step: training step.
        extra: trainer state (optimizer state dict, RNG states as tensors, ...); must contain only
            types ``torch.load(weights_only=True)`` accepts.
    Returns:
        the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_name": model.model_name,
        "config": _plain(dataclasses.asdict(model.config)),
        "preset": getattr(model, "preset", None),
        "plugin": plugin_spec(model),
        "step": int(step),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are as readable as every other output
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file (how tables and model cards identify a checkpoint)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _torch_load(path: Path, map_location: str | torch.device = "cpu") -> Any:
    from emorl_eval.errors import CheckpointError

    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise CheckpointError(f"checkpoint {path} is an empty file (0 bytes); re-copy or re-train it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported as one line
        text = str(exc).strip()
        if "cuda" in str(map_location) and not torch.cuda.is_available():  # a good file, no GPU here
            raise CheckpointError(f"cannot load {path} onto {map_location}: CUDA is not available "
                                  f"(torch {torch.__version__})") from None
        if isinstance(exc, pickle.UnpicklingError) and "unsupported global" in text.lower():
            raise CheckpointError(f"checkpoint {path} holds objects other than tensors and plain "
                                  f"containers; refusing to unpickle it") from None
        if head == b"PK\x03\x04":
            # a torch zip archive that does not read to the end: torch's text is about zip internals
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt: a torch archive that does not "
                                  f"read to the end ({path.stat().st_size:,} bytes); re-copy it or use an "
                                  f"earlier checkpoint of the run") from None
        if isinstance(exc, EOFError):
            raise CheckpointError(f"checkpoint {path} is truncated: the file ends before the checkpoint does "
                                  f"({path.stat().st_size:,} bytes); re-copy it or use an earlier checkpoint") from None
        # anything else (text, an image, a pickle of something else) is not a torch.save file
        raise CheckpointError(f"{path} is not a torch checkpoint (it is not a file written by torch.save; "
                              f"expected runs/NAME/checkpoint_*.pt, zoo:NAME or an official EfficientMORL .pth)") from None


def is_official(obj: Any) -> bool:
    """Whether a loaded object looks like an official EfficientMORL checkpoint."""
    return isinstance(obj, dict) and isinstance(obj.get("model"), dict) and "format" not in obj


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint of our format or an official EfficientMORL one.

    Returns:
        our dict (see module docstring); for official files ``{"format": "official-emorl",
        "model_name": "emorl", "step", "state_dict" (``module.`` stripped, official names),
        "kl_beta"}``.
    """
    from emorl_eval.errors import CheckpointError

    path = Path(path)
    obj = _torch_load(path, map_location)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} is not a checkpoint (holds a {type(obj).__name__}, expected a dict)")
    if obj.get("format") == FORMAT:
        missing = [k for k in ("version", "model_name", "config", "step", "state_dict") if k not in obj]
        if missing:
            raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
        if int(obj["version"]) > VERSION:
            raise CheckpointError(f"checkpoint {path} has format version {obj['version']}, this code reads <= {VERSION}")
        return obj
    if is_official(obj):
        state = {}
        for key, value in obj["model"].items():
            if not isinstance(value, Tensor):
                raise CheckpointError(f"checkpoint {path}: entry {key!r} of 'model' is not a tensor")
            state[key[len("module."):] if key.startswith("module.") else key] = value
        return {"format": "official-emorl", "model_name": "emorl", "step": int(obj.get("step", 0)),
                "state_dict": state, "kl_beta": obj.get("kl_beta", 1)}
    from emorl_eval.models.official_genesis import is_official_genesis

    if is_official_genesis(obj):
        state = obj["model_state_dict"]
        bad = next((k for k, v in state.items() if not isinstance(v, Tensor)), None)
        if bad is not None:
            raise CheckpointError(f"checkpoint {path}: entry {bad!r} of 'model_state_dict' is not a tensor")
        return {"format": "official-genesis", "step": int(obj.get("iter_idx", 0)), "state_dict": state,
                "beta": obj.get("beta"), "err_ema": obj.get("err_ema")}
    raise CheckpointError(f"{path} is not an emorl-eval or official EfficientMORL / GENESIS checkpoint "
                          f"(keys: {', '.join(sorted(map(str, obj))[:6])}; expected 'format', 'model' or "
                          f"'model_state_dict')")


def _shape_mismatches(model: torch.nn.Module, state: dict[str, Tensor]) -> tuple[list[str], list[str], list[str]]:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    return missing, unexpected, wrong


def _describe(missing: list[str], unexpected: list[str], wrong: list[str], own: dict[str, Tensor],
              state: dict[str, Tensor], to_file_key: Any = None) -> str:
    parts = []
    name = to_file_key or (lambda k: k)
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} tensor(s) differ in shape (e.g. {name(k)}: {list(state[k].shape)} in file, "
                     f"{list(own[k].shape)} in model)")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {name(missing[0])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {name(unexpected[0])})")
    return "; ".join(parts)


def map_official_state(state: dict[str, Tensor], path: Path | str = "") -> dict[str, Tensor]:
    """Official (``module.``-stripped) keys -> ours; CheckpointError naming an unknown key."""
    from emorl_eval.errors import CheckpointError
    from emorl_eval.models.efficient_morl import official_to_ours

    mapped = {}
    for key, value in state.items():
        new = official_to_ours(key)
        if new is None:
            raise CheckpointError(f"checkpoint {path}: unknown official EfficientMORL key {key!r}")
        mapped[new] = value
    return mapped


def _fitting_presets(state: dict[str, Tensor]) -> list[str]:
    """EfficientMORL presets whose parameter shapes fit ``state`` (ours-named keys)."""
    from emorl_eval import models
    from emorl_eval.models.presets import available_presets

    fits = []
    for preset in available_presets("emorl"):
        model = models.build("emorl", preset=preset)
        if not any(_shape_mismatches(model, state)):
            fits.append(preset)
    return fits


#: flags file used for official GENESIS checkpoints when a caller gives none (the CLI's --flags)
_DEFAULT_FLAGS: Path | None = None


def use_flags(path: str | Path | None) -> None:
    """Make ``path`` the flags file of official GENESIS / GENESIS-v2 checkpoints loaded without an
    explicit ``flags`` in this process (what every command's ``--flags FILE.json`` sets); None
    restores the default (the ``flags.json`` beside each checkpoint)."""
    global _DEFAULT_FLAGS
    _DEFAULT_FLAGS = None if path is None else Path(path)


def _load_official_genesis(path: Path, ckpt: dict[str, Any], flags: str | Path | None) -> ObjectCentricModel:
    """An official GENESIS / GENESIS-v2 file, built from its flags and loaded strictly."""
    from emorl_eval import models
    from emorl_eval.errors import CheckpointError, ConfigError
    from emorl_eval.models import official_genesis as og

    source = og.flags_path(path, flags if flags is not None else _DEFAULT_FLAGS)
    name, fields = og.config_from_flags(og.read_flags(source), source)
    fields = og.sigmas_from_state(name, ckpt["state_dict"], fields, path)
    try:
        model = models.build(name, preset=None, **fields)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path} with flags {source}: {exc}") from None
    model.preset = None  # type: ignore[attr-defined]
    state = og.map_state(name, ckpt["state_dict"], path)
    state.update(og.geco_state(ckpt, path))
    missing, unexpected, wrong = _shape_mismatches(model, state)
    if missing or unexpected or wrong:
        detail = _describe(missing, unexpected, wrong, model.state_dict(), state)
        raise CheckpointError(f"official checkpoint {path} does not fit the {name} its flags {source} describe: {detail}")
    model.load_state_dict(state, strict=True)
    return model


def load_model(path: str | Path, preset: str | None = None, map_location: str | torch.device = "cpu",
               flags: str | Path | None = None) -> ObjectCentricModel:
    """Build and load the model stored in ``path`` (returned in eval mode).

    Our checkpoints describe themselves (``preset`` is ignored); official EfficientMORL files
    need ``preset`` and must fit it exactly (every tensor used, same shapes); official GENESIS /
    GENESIS-v2 files are built from ``flags`` (default: the ``flags.json`` beside them).
    """
    from emorl_eval import zoo

    path = zoo.resolve(path)  # zoo:NAME -> its checkpoint file
    return model_from_checkpoint(read_checkpoint(path, map_location), path, preset, map_location, flags)


def model_from_checkpoint(ckpt: dict[str, Any], path: str | Path, preset: str | None = None,
                          map_location: str | torch.device = "cpu",
                          flags: str | Path | None = None) -> ObjectCentricModel:
    """:func:`load_model` for a checkpoint already read by :func:`read_checkpoint` from ``path``
    (named in errors; official GENESIS looks for its flags.json beside it), so a caller that also
    needs the file's step or extras reads it once."""
    from emorl_eval import models
    from emorl_eval.errors import CheckpointError, ConfigError, ModelError
    from emorl_eval.models.presets import build_config

    if ckpt["format"] == FORMAT:
        name = ckpt.get("plugin") or ckpt["model_name"]  # a plug-in loads through its import spec
        try:
            config = build_config(name, ckpt["config"])
        except (ConfigError, ModelError) as exc:
            raise CheckpointError(f"checkpoint {path}: {exc}") from None
        model = models.model_class(name)(config)
        model.preset = ckpt.get("preset")  # type: ignore[attr-defined]
        state = ckpt["state_dict"]
        missing, unexpected, wrong = _shape_mismatches(model, state)
        if missing or unexpected or wrong:
            detail = _describe(missing, unexpected, wrong, model.state_dict(), state)
            raise CheckpointError(f"checkpoint {path} does not fit its own config: {detail}")
        model.load_state_dict(state, strict=True)
        return model.to(map_location).eval()

    if ckpt["format"] == "official-genesis":
        return _load_official_genesis(path, ckpt, flags).to(map_location).eval()

    # official EfficientMORL
    from emorl_eval.models.presets import available_presets

    if preset is None:
        raise CheckpointError(f"{path} is an official EfficientMORL checkpoint without a config: give a preset "
                              f"(one of {', '.join(available_presets('emorl'))})")
    state = map_official_state(ckpt["state_dict"], path)
    try:
        model = models.build("emorl", preset=preset)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    missing, unexpected, wrong = _shape_mismatches(model, state)
    if missing or unexpected or wrong:
        from emorl_eval.models.efficient_morl import ours_to_official

        def to_file_key(k: str) -> str:
            return ours_to_official(k) or k

        detail = _describe(missing, unexpected, wrong, model.state_dict(), state, to_file_key)
        fits = _fitting_presets(state)
        hint = f"; it fits preset(s) {', '.join(fits)}" if fits else ""
        raise CheckpointError(f"official checkpoint {path} does not fit preset {preset!r}: {detail}{hint}")
    model.load_state_dict(state, strict=True)
    return model.to(map_location).eval()
