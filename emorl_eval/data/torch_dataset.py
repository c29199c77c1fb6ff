"""``ObjectsDataset``: a lazy torch Dataset over an EfficientMORL-layout ``.h5`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from emorl_eval.data.h5io import decode_rows, layout_of, open_h5
from emorl_eval.data.schema import FactorSpec


class ObjectsDataset(Dataset):
    """Items of one split of a dataset file (ours or an official EfficientMORL file).

    The file is opened lazily, once per process (so each DataLoader worker has its own h5py
    handle). Item::

        {"image": float32 [3, H, W] in [0, 1],
         "masks": int64 [H', W'] label map (0 = background, 1..M objects; H', W' = mask_size,
                  equal to (H, W) except for official raw CLEVR files: the 192x192 crop),
         "visibility": bool [M], "factors": float32 [M, F], "index": int}

    Args:
        path: the ``.h5`` file.
        split: group name, ``"train"`` or ``"test"``.
        clevr_image_size: output image size for official raw 240x320 CLEVR files (96 or 128).
        in_memory: read the whole split into memory on first access (per process; fast random
            access for small datasets such as Tetrominoes).

    Raises:
        DataError: missing file, split or keys, or wrong shapes.
    """

    def __init__(self, path: str | os.PathLike, split: str = "test", clevr_image_size: int = 96,
                 in_memory: bool = False):
        self.path = Path(path)
        self.in_memory = in_memory
        self.split = split
        self.clevr_image_size = clevr_image_size
        with open_h5(self.path) as h:
            layout, arrays = layout_of(h, self.path, split, clevr_image_size)
            self._len = int(arrays.imgs.shape[0])
            self.max_objects = int(arrays.masks.shape[1]) - 1
        self.layout = layout
        self._handle = None
        self._pid = None
        self._datasets = None

    # -- attributes of the contract
    @property
    def factor_specs(self) -> list[FactorSpec]:
        return list(self.layout.factor_specs)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.layout.image_size

    @property
    def mask_size(self) -> tuple[int, int]:
        return self.layout.mask_size

    @property
    def dataset_name(self) -> str:
        return self.layout.dataset_name

    def __len__(self) -> int:
        return self._len

    def _arrays(self):
        """``(imgs, masks, factors or None)`` h5py datasets of this process's handle."""
        # reopen after fork: h5py handles must not be shared between processes
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_h5(self.path)
            self._pid = os.getpid()
            g = self._handle[self.split]
            self._datasets = (g["imgs"], g["masks"], g["factors"] if "factors" in g else None)
            if self.in_memory:  # decompress the split once (per process) for fast random access
                self._datasets = tuple(None if d is None else d[:] for d in self._datasets)
        return self._datasets

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self._len <= index < self._len:
            raise IndexError(f"index {index} out of range for {self._len} items")
        index = int(index) % self._len
        imgs, masks, factors = self._arrays()
        rows = decode_rows(self.layout, imgs[index:index + 1], masks[index:index + 1],
                           None if factors is None else factors[index:index + 1])
        return {
            "image": torch.from_numpy(rows["image"][0]),
            "masks": torch.from_numpy(rows["masks"][0]),
            "visibility": torch.from_numpy(rows["visibility"][0]),
            "factors": torch.from_numpy(np.ascontiguousarray(rows["factors"][0])),
            "index": index,
        }

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_pid"] = None
        state["_datasets"] = None
        return state

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._datasets = None

    def __repr__(self) -> str:
        return (f"ObjectsDataset({str(self.path)!r}, split={self.split!r}: {self._len} images "
                f"{self.image_size[0]}x{self.image_size[1]}, M={self.max_objects}, {self.dataset_name})")
