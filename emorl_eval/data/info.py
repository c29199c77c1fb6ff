"""Summary of a dataset file: splits, shapes, factor specs, objects per image."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emorl_eval.data.h5io import decode_rows, layout_of, open_h5
from emorl_eval.data.schema import FactorSpec


@dataclass
class SplitInfo:
    name: str
    num_images: int
    image_shape: tuple[int, ...]
    mask_shape: tuple[int, ...]
    factor_shape: tuple[int, ...] | None
    objects_per_image: dict[int, int] = field(default_factory=dict)


@dataclass
class FileInfo:
    path: Path
    dataset_name: str
    official: bool
    factor_specs: list[FactorSpec]
    max_objects: int
    image_size: tuple[int, int]
    mask_size: tuple[int, int]
    clevr_crop: bool
    splits: list[SplitInfo]
    attrs: dict
    #: index of the per-object visibility column in ``factors`` (after the factor columns), or None
    visibility_column: int | None = None


def file_info(path: str | os.PathLike, max_scan: int = 2000) -> FileInfo:
    """Inspect ``path``; objects-per-image counts use the first ``max_scan`` images per split."""
    path = Path(path)
    splits: list[SplitInfo] = []
    layout = None
    max_objects = 0
    with open_h5(path) as h:
        names = [s for s in h.keys() if hasattr(h[s], "keys")]
        if not names:
            from emorl_eval.errors import DataError

            raise DataError(f"{path}: no train/test groups")
        for name in names:
            layout, arrays = layout_of(h, path, name)
            n = int(arrays.imgs.shape[0])
            scan = min(n, max_scan)
            counts: dict[int, int] = {}
            for start in range(0, scan, 500):
                stop = min(scan, start + 500)
                rows = decode_rows(layout, arrays.imgs[start:stop], arrays.masks[start:stop],
                                   None if arrays.factors is None else arrays.factors[start:stop])
                for c, k in zip(*np.unique(rows["visibility"].sum(1), return_counts=True)):
                    counts[int(c)] = counts.get(int(c), 0) + int(k)
            max_objects = int(arrays.masks.shape[1]) - 1
            splits.append(SplitInfo(name, n, tuple(arrays.imgs.shape[1:]), tuple(arrays.masks.shape[1:]),
                                    None if arrays.factors is None else tuple(arrays.factors.shape[1:]),
                                    dict(sorted(counts.items()))))
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h.attrs.items()}
    assert layout is not None
    return FileInfo(path, layout.dataset_name, layout.official, layout.factor_specs, max_objects,
                    layout.image_size, layout.mask_size, layout.clevr_crop, splits, attrs,
                    layout.visibility_column)
