"""Starting a run from another run's weights (``train --init-from``) and the lineage it records.

A parent is a checkpoint of ours (a file, a run folder or ``zoo:NAME``). The child run

* builds its model from its own ``--model``/``--preset``/``--set`` and loads the parent's weights and
  model state (GECO buffers included) strictly;
* refuses a model config that differs from the parent's in a field not given again with ``--set``
  (one line listing the fields: a silent recipe change would make the lineage lie);
* continues the parent's step counter, so GECO's warm start, the refinement curriculum and the LR
  schedule carry on where the parent stopped; ``--steps`` stays the total step count;
* starts a fresh Adam whose LR is re-warmed linearly over ``rewarm_steps`` steps (the moment
  estimates of a fresh optimiser are noise for the first few hundred steps).

With ``init_modules`` (``train --init-from PARENT --init-modules a,b``) the child loads only the
parent's parameters and buffers under those module names (state-dict key prefixes: ``mask_vae``
covers ``mask_vae.encoder.0.conv.weight``, ...). The parent may then be another model (GENESIS-S's
attention network into GENESIS, say): every loaded tensor must exist in the child with the same
shape, everything else keeps its fresh initialisation, the child's model config is its own (not
compared with the parent's) and its step counter starts at 0, so its own schedule, GECO and
curriculum run from the start (the schedule's warm-up, no re-warm).

The lineage (``config.json["lineage"]``, every checkpoint's ``extra["lineage"]`` and every zoo
card) names the parent, its sha256 and steps, the modules taken from it (with ``init_modules``)
and the cumulative steps and training minutes over all ancestors.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from emorl_eval.errors import CheckpointError, ConfigError
from emorl_eval.models.presets import config_defaults


@dataclass
class Parent:
    """A parent checkpoint as the child needs it.

    Attributes:
        spec: what the user gave (``zoo:NAME`` or a path).
        path: the checkpoint file read.
        sha256: of that file.
        model_name, preset, config: the parent's model.
        seed: the parent run's seed (None when not recorded).
        step: the parent's step (where the child's counter continues).
        state_dict: the parent's weights and buffers.
        cumulative_steps, cumulative_minutes: over the parent's whole lineage.
        ancestors: the parent's own lineage chain, oldest first.
    """

    spec: str
    path: Path
    sha256: str
    model_name: str
    preset: str | None
    config: dict[str, Any]
    seed: int | None
    step: int
    state_dict: dict[str, Any]
    cumulative_steps: int
    cumulative_minutes: float
    ancestors: list[dict[str, Any]] = field(default_factory=list)

    def record(self, modules: list[str] | None = None) -> dict[str, Any]:
        """The lineage block of a child of this parent (before the child trains a step); with
        ``modules`` (``init_modules``) also those and the child's first step, 0."""
        partial = {"init_modules": list(modules), "start_step": 0} if modules else {}
        return {
            "parent": self.spec,
            "parent_sha256": self.sha256,
            "parent_model": self.model_name,
            "parent_preset": self.preset,
            "parent_steps": self.step,
            "parent_cumulative_steps": self.cumulative_steps,
            "parent_cumulative_minutes": round(self.cumulative_minutes, 2),
            "ancestors": self.ancestors,
            **partial,
        }


def read_parent(spec: str) -> Parent:
    """Read ``spec`` (checkpoint file, run folder or ``zoo:NAME``); one-line CheckpointError when it
    is not a checkpoint of ours."""
    from emorl_eval import zoo
    from emorl_eval.evaluate import resolve_checkpoint
    from emorl_eval.models.checkpoints import FORMAT

    path = zoo.resolve(spec)
    if not path.exists():
        raise CheckpointError(f"--init-from {spec}: no such file or run folder")
    path = Path(resolve_checkpoint(path))
    raw, sha256 = _read_once(str(path.resolve()), *_signature(path))
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"--init-from {spec}: not an emorl-eval checkpoint (official checkpoints have no "
                              f"training lineage; load them with --ckpt, or convert by training from scratch)")
    extra = raw.get("extra") or {}
    step = int(raw.get("step", 0))
    own_lineage = extra.get("lineage") or {}
    minutes = float(extra.get("train_seconds", 0.0)) / 60.0
    seed = (extra.get("train_config") or {}).get("seed")
    if seed is None:
        seed = _seed_from_folder(path, spec)
    ancestors = list(own_lineage.get("ancestors") or [])
    if own_lineage.get("parent"):
        ancestors.append({k: own_lineage[k] for k in ("parent", "parent_sha256", "parent_steps") if k in own_lineage})
    return Parent(
        spec=str(spec), path=path, sha256=sha256, model_name=str(raw.get("model_name")),
        preset=raw.get("preset"), config=dict(raw.get("config") or {}), seed=seed, step=step,
        state_dict=raw["state_dict"],
        # a run without lineage trained all its steps itself; one with lineage recorded the sums
        cumulative_steps=int(own_lineage.get("cumulative_steps", step)),
        cumulative_minutes=float(own_lineage.get("cumulative_minutes", minutes)),
        ancestors=ancestors,
    )


def _signature(path: Path) -> tuple[int, int, int]:
    """What changes when a checkpoint file is rewritten (atomic writes replace the inode)."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=1)
def _read_once(path: str, inode: int, mtime_ns: int, size: int) -> tuple[dict[str, Any], str]:
    """(checkpoint, sha256) of ``path``, read and hashed once per file version: the CLI reads the
    parent for its defaults and the trainer again to load it."""
    from emorl_eval.models.checkpoints import file_sha256, read_checkpoint

    return read_checkpoint(path), file_sha256(path)


def forget_read_parents() -> None:
    """Drop the cached parent checkpoint (once its weights are loaded into the child)."""
    _read_once.cache_clear()


def _seed_from_folder(path: Path, spec: str) -> int | None:
    """The seed in the ``config.json`` beside a checkpoint (zoo entries keep the run's config)."""
    from emorl_eval import zoo

    folder = zoo.entry(spec).folder if zoo.is_zoo_spec(spec) else path.parent
    try:
        return int(json.loads((folder / "config.json").read_text())["train"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def config_differences(parent: dict[str, Any], child: dict[str, Any], given: set[str]) -> list[str]:
    """Model-config fields where ``child`` differs from ``parent`` and that were not given again
    (``given``: the keys of ``--set``), as ``"name (parent P, this run C)"``; JSON-equal values
    (tuples vs lists) are equal."""
    def plain(value: Any) -> Any:
        return json.loads(json.dumps(value))

    out = []
    for name in sorted(set(parent) | set(child)):
        if name in given:
            continue
        if plain(parent.get(name)) != plain(child.get(name)):
            out.append(f"{name} (parent {parent.get(name)!r}, this run {child.get(name)!r})")
    return out


def check_compatible(parent: Parent, model_name: str, child_config: dict[str, Any], given: set[str],
                     preset_hint: str | None = None) -> None:
    """ConfigError (one line) when the child is another model or its config differs from the
    parent's in fields not given with ``--set``."""
    if parent.model_name != model_name:
        raise ConfigError(f"--init-from {parent.spec}: holds model {parent.model_name!r}, not {model_name!r}")
    # a field added to the model config after the parent was written is absent from its config:
    # the parent ran with the behaviour the field's default keeps
    added = {k: v for k, v in config_defaults(model_name).items() if k not in parent.config}
    diffs = config_differences({**added, **parent.config}, child_config, given)
    if diffs:
        hint = f"; the parent's config is preset {preset_hint!r}" if preset_hint else ""
        raise ConfigError(f"--init-from {parent.spec}: this run's model config differs from the parent's in "
                          f"{'; '.join(diffs)}: give each again with --set KEY=VALUE to change it{hint}")


def keys_under(keys: Iterable[str], module: str) -> list[str]:
    """The state-dict ``keys`` under the module name ``module`` (the name itself or ``module.*``;
    ``enc`` is not under ``encoder``)."""
    return [k for k in keys if k == module or k.startswith(module + ".")]


def top_level_modules(keys: Iterable[str]) -> list[str]:
    """The sorted first components of the state-dict ``keys`` (for error messages)."""
    return sorted({k.split(".")[0] for k in keys})


def module_weights(parent: Parent, child_state: dict[str, Any], modules: list[str]) -> dict[str, Any]:
    """The parent's state-dict entries under ``modules`` (key prefixes), checked against the child's
    ``child_state``; one-line CheckpointError when a module is missing from either side or a tensor's
    shape differs (a silent partial load would train a different model than the lineage says)."""
    chosen: dict[str, Any] = {}
    for module in modules:
        keys = keys_under(parent.state_dict, module)
        if not keys:
            raise CheckpointError(f"--init-modules {module}: the parent ({parent.model_name}) has no such module; "
                                  f"its top-level modules: {', '.join(top_level_modules(parent.state_dict))}")
        chosen.update({k: parent.state_dict[k] for k in keys})
    missing = [k for k in chosen if k not in child_state]
    wrong = [f"{k} (parent {tuple(chosen[k].shape)}, this run {tuple(child_state[k].shape)})"
             for k in chosen if k in child_state and tuple(chosen[k].shape) != tuple(child_state[k].shape)]
    if missing or wrong:
        what = (f"{len(missing)} tensor(s) this model lacks, e.g. {missing[0]}" if missing
                else f"shapes that differ: {'; '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''}")
        raise CheckpointError(f"--init-modules {','.join(modules)}: does not fit this model ({what})")
    return chosen


def matching_preset(model_name: str, config: dict[str, Any]) -> str | None:
    """A preset of ``model_name`` whose config equals ``config`` (None when none does)."""
    from emorl_eval.models import presets

    for name in presets.available_presets(model_name):
        try:
            candidate = presets.resolve_config(model_name, name).__dict__
        except ConfigError:
            continue
        if not config_differences(config, dict(candidate), set()):
            return name
    return None


def updated(lineage: dict[str, Any], step: int, train_seconds: float) -> dict[str, Any]:
    """``lineage`` with the cumulative steps and minutes at ``step`` of the child (whose own
    training took ``train_seconds``; its first step is the parent's, or ``start_step``)."""
    start = int(lineage.get("start_step", lineage["parent_steps"]))
    return {
        **lineage,
        "cumulative_steps": int(lineage["parent_cumulative_steps"]) + step - start,
        "cumulative_minutes": round(float(lineage["parent_cumulative_minutes"]) + train_seconds / 60.0, 2),
    }
