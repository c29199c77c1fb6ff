"""Headless matplotlib and atomic PNG writes, shared by every module that draws a figure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: the smallest font any figure uses (points; at the 100-120 dpi of our PNGs, 11-13 pixels): every
#: label stays legible at 100 % zoom
MIN_FONT_PT = 8


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, dpi: int) -> Path:
    """Write ``fig`` to ``path`` (parent folders created) via a temp file + rename, so a killed
    run never leaves a half-written PNG; closes the figure. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        pyplot().close(fig)
        if tmp.exists():
            tmp.unlink()
    return path
