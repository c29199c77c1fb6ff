"""Efficiency (appendix E.3, Figure 22): trainable parameters and forward+backward time per step.

For each model and image size the model is built from its preset (default ``clevr6``, the
paper's counts: EfficientMORL about 666K, IODINE about 2.75M) with ``image_size`` overridden,
put in train mode, and timed on random images of a fixed seed: one step = ``model(images)``,
``output.loss.backward()`` and zeroing the gradients (no optimiser update). After ``warmup``
untimed steps, ``repeats`` steps are timed individually (CUDA events on a GPU, ``perf_counter``
on the CPU) and the median is reported with the min and max.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Iterable

import pandas as pd
import torch

COLUMNS = ["model", "preset", "image_size", "batch_size", "device", "params", "paper_params", "ms_per_step",
           "ms_min", "ms_max", "repeats", "warmup", "status"]

#: trainable parameters the paper reports at the CLEVR6 setting (appendix E.3, "approximately"),
#: shown beside the measured count for reference
PAPER_PARAMS_CLEVR6: dict[str, int] = {"emorl": 666_000, "iodine": 2_750_000}


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _resolve_preset(name: str, preset: str | None) -> str | None:
    """``preset`` if the model has it, else None (the model's default preset)."""
    if preset is None:
        return None
    try:
        from emorl_eval.models.presets import available_presets

        return preset if preset in available_presets(name) else None
    except Exception:  # registry without presets for this model: use its default
        return None


def time_step(model: torch.nn.Module, images: torch.Tensor, repeats: int, warmup: int,
              generator_seed: int = 0) -> list[float]:
    """Milliseconds of each of ``repeats`` forward+backward steps after ``warmup`` untimed ones."""
    device = images.device
    generator = torch.Generator(device=device).manual_seed(generator_seed)
    cuda = device.type == "cuda"

    def step() -> None:
        out = model(images, generator=generator)
        out.loss.backward()
        model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    times: list[float] = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize(device)
            times.append(float(start.elapsed_time(end)))
        else:
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def measure_timing(model_names: Iterable[str], sizes: Iterable[int], batch_size: int = 4,
                   repeats: int = 10, warmup: int = 3, preset: str | None = "clevr6",
                   device: str = "cpu", seed: int = 0, overrides: dict[str, Any] | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """Parameter counts and step times; one row per (model, size) with :data:`COLUMNS`.

    A model that is not registered, or that cannot be built or run at a size, gets one row with
    ``status`` saying why (``ms_per_step`` NaN) instead of stopping the measurement.
    """
    from emorl_eval import models
    from tqdm import tqdm

    rows = []
    names, sizes = list(model_names), list(sizes)
    from emorl_eval.errors import ConfigError, ModelError

    jobs = [(n, s) for n in names for s in sizes]
    for name, size in tqdm(jobs, desc="timing", disable=not progress, leave=False):
        row: dict[str, Any] = {"model": name, "preset": None, "image_size": size, "batch_size": batch_size,
                               "device": device, "params": None, "ms_per_step": float("nan"),
                               "paper_params": PAPER_PARAMS_CLEVR6.get(name) if preset == "clevr6" else None,
                               "ms_min": float("nan"), "ms_max": float("nan"), "repeats": repeats,
                               "warmup": warmup, "status": "ok"}
        try:
            models.model_class(name)  # a built-in, an entry point or a package.module:Class plug-in
        except ConfigError:
            row["status"] = "unavailable: not registered"
            rows.append(row)
            continue
        except ModelError as err:  # a plug-in that cannot be imported
            row["status"] = f"unavailable: {err}"
            rows.append(row)
            continue
        chosen = _resolve_preset(name, preset)
        row["preset"] = chosen
        try:
            torch.manual_seed(seed)
            model = models.build(name, preset=chosen, image_size=(size, size), **(overrides or {}))
            model = model.to(device).train()
            row["params"] = count_parameters(model)
            g = torch.Generator().manual_seed(seed)
            images = torch.rand(batch_size, 3, size, size, generator=g).to(device)
            times = time_step(model, images, repeats, warmup, seed)
            row.update(ms_per_step=statistics.median(times), ms_min=min(times), ms_max=max(times))
        except Exception as err:  # report and go on: one failing model must not hide the others
            row["status"] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
        finally:
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["params"] = table["params"].astype("Int64")  # counts stay integers beside missing ones
    return table
