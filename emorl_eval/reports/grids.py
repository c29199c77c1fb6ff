"""Image grids with titles, saved as PNGs of an exact pixel size.

A grid of ``rows x cols`` cells, each ``cell_px`` square, plus a title strip of ``title_px`` on
top when there are column titles and a margin of ``label_px`` on the left when there are row
labels: the PNG is exactly ``(label_px + cols * cell_px) x (title_px + rows * cell_px)`` pixels
(width x height). Images are drawn with nearest-neighbour scaling so small images stay crisp.
Titles and labels are :data:`FONT_PT` points whatever the cell size (legible at 100 % zoom).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

TITLE_PX = 24
LABEL_PX = 128
DPI = 100
#: font size of column titles and row labels, points (12.5 px at DPI 100)
FONT_PT = 9


def grid_size(rows: int, cols: int, cell_px: int, col_titles: bool, row_labels: bool) -> tuple[int, int]:
    """(width, height) in pixels of a grid written by :func:`save_grid`."""
    return (LABEL_PX if row_labels else 0) + cols * cell_px, (TITLE_PX if col_titles else 0) + rows * cell_px


def to_hwc(image: torch.Tensor) -> np.ndarray:
    """Channel-first ``[3, H, W]`` / ``[1, H, W]`` or ``[H, W]`` tensor in [0, 1] -> float
    ``[H, W, 3]`` numpy array (grey images repeated over RGB), clipped to [0, 1]."""
    a = image.detach().float().cpu()
    if a.dim() == 2:
        a = a[None]
    a = a.expand(3, -1, -1) if a.shape[0] == 1 else a
    return np.clip(a.permute(1, 2, 0).numpy(), 0.0, 1.0)


def palette(k: int) -> np.ndarray:
    """``[k, 3]`` distinct RGB colours in [0, 1] (seaborn ``husl``), one per slot."""
    import seaborn as sns

    return np.asarray(sns.color_palette("husl", k), dtype=np.float32)


def colour_argmax(masks: torch.Tensor) -> np.ndarray:
    """Slot masks ``[K, 1, H, W]`` (or ``[K, H, W]``) -> ``[H, W, 3]``: each pixel coloured by
    its argmax slot."""
    m = masks.detach().float().cpu()
    if m.dim() == 4:
        m = m[:, 0]
    return palette(m.shape[0])[m.argmax(0).numpy()]


def save_grid(cells: Sequence[Sequence[np.ndarray | None]], path: str | Path, cell_px: int = 96,
              col_titles: Sequence[str] | None = None, row_labels: Sequence[str] | None = None) -> Path:
    """Write ``cells`` (rows of ``[H, W, 3]`` float arrays in [0, 1]; None = blank) as a PNG of
    :func:`grid_size` pixels."""
    from emorl_eval.figure_files import pyplot, save_figure

    rows = len(cells)
    cols = max(len(r) for r in cells) if rows else 0
    width, height = grid_size(rows, cols, cell_px, bool(col_titles), bool(row_labels))
    plt = pyplot()
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    left = LABEL_PX if row_labels else 0
    top = TITLE_PX if col_titles else 0
    fontsize = FONT_PT
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            x0 = (left + j * cell_px) / width
            y0 = 1 - (top + (i + 1) * cell_px) / height
            ax = fig.add_axes((x0, y0, cell_px / width, cell_px / height))
            if cell is None:
                ax.set_axis_off()
                continue
            ax.imshow(np.clip(cell, 0, 1), interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():  # a thin frame so white cells stay visible
                spine.set_color("0.6")
                spine.set_linewidth(0.5)
    if col_titles:
        for j, title in enumerate(col_titles[:cols]):
            fig.text((left + (j + 0.5) * cell_px) / width, 1 - (TITLE_PX / 2) / height, title,
                     ha="center", va="center", fontsize=fontsize)
    if row_labels:
        for i, label in enumerate(row_labels[:rows]):
            fig.text(4 / width, 1 - (top + (i + 0.5) * cell_px) / height, label,
                     ha="left", va="center", fontsize=fontsize)
    return save_figure(fig, path, dpi=DPI)
