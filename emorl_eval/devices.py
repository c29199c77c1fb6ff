"""``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present, else CPU).

Checked when the command line is parsed, so a machine without CUDA gets one line naming the torch
build (``--device cuda: CUDA is not available (torch 2.13.0+cpu is a CPU-only build)``, exit 2)
instead of a misleading error later (a good checkpoint called corrupt, a timing table of failures).
"""

from __future__ import annotations

from typing import Any

from emorl_eval.errors import ConfigError

#: help text of every --device option
DEVICE_HELP = "cpu, cuda, cuda:N or auto (CUDA when available, else CPU)."


def cuda_unavailable_reason() -> str:
    """Why CUDA cannot be used here, naming the torch build (e.g. ``torch 2.13.0+cpu is a CPU-only
    build``); empty when CUDA is available."""
    import torch

    if torch.cuda.is_available():
        return ""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no CUDA GPU or driver"


def resolve_device(name: str, local_rank: int | None = None) -> "torch.device":  # noqa: F821
    """``name`` as a torch device: ``auto`` -> ``cuda`` when available, else ``cpu``; with
    ``local_rank`` (torchrun) a bare ``cuda`` means ``cuda:LOCAL_RANK``. A malformed name, CUDA
    without CUDA, or a GPU index that does not exist is a one-line :class:`ConfigError`."""
    import torch

    text = str(name).strip()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {name}: not a torch device (cpu, cuda, cuda:N, auto)") from None
    if device.type == "cuda":
        reason = cuda_unavailable_reason()
        if reason:
            raise ConfigError(f"--device {name}: CUDA is not available ({reason}); use --device cpu or auto")
        if device.index is None and local_rank is not None:
            device = torch.device("cuda", local_rank)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"--device {name}: no CUDA device {device.index} ({count} visible)")
    return device


def check_device_option(ctx: Any, param: Any, value: str | None) -> str | None:
    """click callback of ``--device``: the resolved device as a string (``auto`` -> ``cuda`` or
    ``cpu``); None stays None (the command's own default applies later)."""
    if value is None:
        return None
    return str(resolve_device(value))


def validate_device_option(ctx: Any, param: Any, value: str | None) -> str | None:
    """click callback of ``--device`` that checks the value but keeps it as given (``train``, where
    ``auto`` and ``cuda`` are resolved per rank under torchrun)."""
    if value is not None:
        resolve_device(value, local_rank=0)
    return value
