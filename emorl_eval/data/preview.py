"""Preview figure of a dataset file: one row per sample, image and coloured ground-truth mask."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from emorl_eval.data.h5io import read_scenes


def mask_palette(num_ids: int) -> np.ndarray:
    """float ``[num_ids, 3]`` RGB colours: id 0 (background) black, objects evenly spaced hues."""
    from matplotlib.colors import hsv_to_rgb

    colors = np.zeros((max(num_ids, 1), 3))
    if num_ids > 1:
        hues = (np.arange(num_ids - 1) / (num_ids - 1) + 0.02) % 1.0
        colors[1:] = hsv_to_rgb(np.stack([hues, np.full_like(hues, 0.65), np.full_like(hues, 0.95)], axis=1))
    return colors


def colorize_labels(labels: np.ndarray, num_ids: int) -> np.ndarray:
    """Label map int ``[H, W]`` -> float RGB ``[H, W, 3]``."""
    return mask_palette(num_ids)[labels]


def save_preview(path: str | os.PathLike, out: str | os.PathLike, num: int = 8, split: str = "test",
                 start: int = 0) -> Path:
    """Write a PNG grid of ``num`` samples of ``split`` (rows: image, GT mask). Returns ``out``."""
    from emorl_eval.figure_files import pyplot, save_figure

    plt = pyplot()

    rows = read_scenes(path, split, start, start + num)
    images, labels = rows["image"], rows["masks"]
    n = images.shape[0]
    if n == 0:
        from emorl_eval.errors import DataError

        raise DataError(f"{path}: split {split!r} has {rows['num']} images, none from index {start}")
    num_ids = rows["visibility"].shape[1] + 1
    fig, axes = plt.subplots(max(n, 1), 2, figsize=(4.0, 2.0 * max(n, 1)), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i].transpose(1, 2, 0), interpolation="nearest")
        axes[i, 1].imshow(colorize_labels(labels[i], num_ids), interpolation="nearest")
        axes[i, 0].set_ylabel(f"#{start + i}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=9)
    axes[0, 1].set_title("GT mask", fontsize=9)
    fig.suptitle(f"{rows['layout'].dataset_name} ({split})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, dpi=100)
