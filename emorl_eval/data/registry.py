"""Registry of the built-in procedural datasets: name -> generator function."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Iterator

import numpy as np

from emorl_eval.data.scenes import SceneArrays, concat_scenes
from emorl_eval.errors import ConfigError

# Scenes are generated in chunks of this many images, chunk k seeded by (seed, k), so
# generate_h5 can stream chunks to disk with a progress bar and bounded memory.
CHUNK = 250

# name -> (module, function, one-line description); modules import lazily.
_GENERATORS: dict[str, tuple[str, str, str]] = {
    "tetrominoes": ("emorl_eval.data.tetrominoes", "generate_tetrominoes",
                    "35x35, 3 non-overlapping tetrominoes (19 orientations, 6 colours) on black"),
    "multi_dsprites": ("emorl_eval.data.multi_dsprites", "generate_multi_dsprites",
                       "64x64 colored_on_grayscale: 2-5 occluding sprites (square, ellipse, heart) on grey"),
    "clevr_like": ("emorl_eval.data.clevr_like", "generate_clevr_like",
                   "96x96 (or --option size=128) CLEVR-like scenes, 3-6 objects, numpy ray caster; not CLEVR6"),
    "textured_dsprites": ("emorl_eval.data.textured_dsprites", "generate_textured_dsprites",
                          "64x64 appendix B.1 variant: two-colour patterned sprites on a uniform texture"),
}


def available_datasets() -> list[str]:
    """Names accepted by :func:`generate`."""
    return sorted(_GENERATORS)


def describe(name: str) -> str:
    """One-line description of dataset ``name``."""
    return _lookup(name)[2]


def _lookup(name: str) -> tuple[str, str, str]:
    if name not in _GENERATORS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(available_datasets())}")
    return _GENERATORS[name]


def generator(name: str) -> Callable[..., SceneArrays]:
    """The generator function of dataset ``name`` (signature ``(num, seed, **options)``)."""
    module, attr, _ = _lookup(name)
    return getattr(importlib.import_module(module), attr)


def generate(name: str, num: int, seed: int, **options: Any) -> SceneArrays:
    """Generate ``num`` scenes of built-in dataset ``name``, deterministically from ``seed``.

    Returns a :class:`SceneArrays` (images uint8 ``[N,H,W,3]``, masks uint8 ``[N,H,W]``,
    visibility bool ``[N,M]``, factors float32 ``[N,M,F]``, factor_specs, name).
    Images are generated in chunks of :data:`CHUNK` (chunk k seeded by ``(seed, k)``), so the
    first ``250 * j`` rows do not depend on ``num`` beyond that. Unknown options raise
    :class:`ConfigError`.
    """
    return concat_scenes(list(iter_chunks(name, num, seed, **options)))


def chunk_seed(seed: int, chunk: int) -> int:
    """The generator seed of chunk ``chunk`` of a dataset generated with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, dtype=np.uint64)[0])


def check_options(name: str, num: int, options: dict[str, Any]) -> Callable[..., SceneArrays]:
    """Validate ``name``, ``num`` and option names; return the generator function."""
    fn = generator(name)
    params = inspect.signature(fn).parameters
    unknown = sorted(set(options) - set(params) - {"num", "seed"})
    if unknown:
        allowed = [p for p in params if p not in ("num", "seed")]
        raise ConfigError(f"dataset {name!r} has no option {', '.join(unknown)}; options: {', '.join(allowed) or 'none'}")
    if num < 0:
        raise ConfigError(f"num must be >= 0, got {num}")
    try:  # a zero-image dry run checks option values before any long work starts
        fn(0, 0, **options)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"dataset {name!r}: {err}") from None
    return fn


def _make_chunk(task: tuple[str, int, int, int, dict]) -> SceneArrays:
    """Chunk ``k`` of dataset ``name``: ``n`` images from ``chunk_seed(seed, k)`` (top level so
    worker processes can run it)."""
    name, n, seed, k, options = task
    try:
        scenes = generator(name)(n, chunk_seed(seed, k), **options)
    except ValueError as err:  # invalid option values
        raise ConfigError(f"dataset {name!r}: {err}") from None
    scenes.validate()
    return scenes


def iter_chunks(name: str, num: int, seed: int, workers: int = 1, **options: Any) -> Iterator[SceneArrays]:
    """Yield the scenes of :func:`generate` in consecutive chunks of at most :data:`CHUNK`.

    Names and options are checked before the first chunk is asked for. ``workers > 1``
    generates chunks in that many processes; chunks are seeded by index, so the output is the
    same for any number of workers.
    """
    check_options(name, num, options)
    tasks = [(name, min(CHUNK, num - start), seed, k, options)
             for k, start in enumerate(range(0, max(num, 1), CHUNK))]

    def chunks() -> Iterator[SceneArrays]:
        if workers <= 1 or len(tasks) == 1:
            for task in tasks:
                yield _make_chunk(task)
            return
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(workers, len(tasks))) as pool:
            yield from pool.imap(_make_chunk, tasks)

    return chunks()
