"""HDF5 files in the EfficientMORL layout: writing (atomic) and reading.

On-disk layout (shared with the official EfficientMORL files, ``datasets.md`` section 1.3)::

    /{train,test}/imgs     uint8   [N, H, W, 3]
    /{train,test}/masks    uint8   [N, K, H, W, 1]   0/255 per entity, entity 0 = background
    /{train,test}/factors  float32 [N, K, F + 1]     entity 0 = background (zeros),
                                                     last column = visibility (0/1)

``K = M + 1`` for ``M`` object slots. Files we write also carry root attributes (see
:func:`emorl_eval.data.layouts.root_attrs`): the dataset name, the factor specs as JSON, the
generator options and seed. Official files without them are read with known schemas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from emorl_eval.data.layouts import Layout, resolve_layout, root_attrs
from emorl_eval.data.scenes import SceneArrays
from emorl_eval.errors import ConfigError, DataError

SPLITS = ("train", "test")


def labels_to_onehot(labels: np.ndarray, num_entities: int) -> np.ndarray:
    """Label maps uint8 ``[N, H, W]`` -> masks uint8 ``[N, K, H, W, 1]`` with values 0/255."""
    k = np.arange(num_entities, dtype=labels.dtype)
    return ((labels[:, None, :, :] == k[None, :, None, None]) * np.uint8(255))[..., None].astype(np.uint8)


def onehot_to_labels(masks: np.ndarray) -> np.ndarray:
    """Masks ``[..., K, H, W, 1]`` or ``[..., K, H, W]`` (0/255 or 0/1) -> label maps ``[..., H, W]``.

    A pixel gets the first entity whose mask is on (> half of the on value: 255 for DeepMind
    masks, 1 for 0/1 masks); pixels no entity claims are background (0), as in EfficientMORL's
    ``lib/metrics.py``.
    """
    if masks.shape[-1] == 1 and masks.ndim >= 4:
        masks = masks[..., 0]
    thresh = 127.5 if masks.max(initial=0) > 1 else 0.5
    on = masks > thresh
    return np.argmax(on, axis=-3).astype(np.int64)


def scenes_to_file_arrays(scenes: SceneArrays) -> dict[str, np.ndarray]:
    """The ``imgs``/``masks``/``factors`` arrays of ``scenes`` in the on-disk layout."""
    n, m = scenes.visibility.shape
    f = len(scenes.factor_specs)
    factors = np.zeros((n, m + 1, f + 1), dtype=np.float32)
    factors[:, 1:, :f] = scenes.factors
    factors[:, 1:, f] = scenes.visibility
    factors[:, 0, f] = 1.0
    return {
        "imgs": scenes.images,
        "masks": labels_to_onehot(scenes.masks, m + 1),
        "factors": factors,
    }


class H5Writer:
    """Streams rows into a new file in the on-disk layout; the file appears atomically.

    Use as a context manager: the data go to a temporary file beside ``path`` that replaces
    ``path`` (``os.replace``) only when the block ends without error; otherwise it is deleted.
    Datasets grow as rows are appended (gzip, chunks of about 64 KB), so the number of rows need
    not be known in advance. Every split in ``splits`` exists in the file, empty if nothing was
    appended to it.
    """

    def __init__(self, path: str | os.PathLike, attrs: dict[str, Any], splits: Iterable[str] = SPLITS,
                 compression: str | None = "gzip"):
        import h5py

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._file = h5py.File(self._tmp, "w")
        self._file.attrs.update(attrs)
        self._splits = list(splits)
        self._compression = compression
        self.rows = {split: 0 for split in self._splits}

    @property
    def attrs(self):
        """The root attributes (writable until the file is closed)."""
        return self._file.attrs

    def _create(self, group, key: str, row_shape: tuple[int, ...], dtype) -> None:
        opts: dict[str, Any] = {}
        if self._compression and key != "factors":
            opts = {"compression": self._compression}
            if self._compression == "gzip":
                opts["compression_opts"] = 4
        # ~64 KB chunks: random access (shuffled training) decompresses little beyond the row
        row_bytes = int(np.prod(row_shape)) * np.dtype(dtype).itemsize
        rows = int(np.clip((64 << 10) // max(row_bytes, 1), 1, 1024))
        group.create_dataset(key, (0, *row_shape), dtype, maxshape=(None, *row_shape),
                             chunks=(rows, *row_shape), **opts)

    def append_arrays(self, split: str, imgs: np.ndarray, masks: np.ndarray, factors: np.ndarray) -> None:
        """Append rows: imgs uint8 ``[B,H,W,3]``, masks uint8 ``[B,K,H,W,1]``, factors float32 ``[B,K,F]``."""
        if split not in self.rows:
            self._splits.append(split)
            self.rows[split] = 0
        g = self._file.require_group(split)
        arrays = {"imgs": np.asarray(imgs, np.uint8), "masks": np.asarray(masks, np.uint8),
                  "factors": np.asarray(factors, np.float32)}
        start = self.rows[split]
        for key, arr in arrays.items():
            if key not in g:
                self._create(g, key, arr.shape[1:], arr.dtype)
            ds = g[key]
            if ds.shape[1:] != arr.shape[1:]:
                raise ValueError(f"{split}/{key}: rows of shape {arr.shape[1:]} do not fit {ds.shape[1:]}")
            ds.resize(start + arr.shape[0], axis=0)
            ds[start:] = arr
        self.rows[split] = start + arrays["imgs"].shape[0]

    def append(self, split: str, scenes: SceneArrays) -> None:
        """Append generated scenes to ``split``."""
        self.append_arrays(split, **scenes_to_file_arrays(scenes))

    def _fill_missing_splits(self) -> None:
        template = next((self._file[s] for s in self._splits if s in self._file), None)
        for split in self._splits:
            if split not in self._file and template is not None:
                g = self._file.create_group(split)
                for key in ("imgs", "masks", "factors"):
                    self._create(g, key, template[key].shape[1:], template[key].dtype)

    def __enter__(self) -> "H5Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._fill_missing_splits()
        finally:
            self._file.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def write_scenes_h5(path: str | os.PathLike, splits: dict[str, SceneArrays], seed: int | None = None) -> Path:
    """Write already generated scenes (``{"train": ..., "test": ...}``) to ``path`` atomically."""
    first = next(iter(splits.values()))
    attrs = root_attrs(first.name, first.factor_specs, first.max_objects, first.options, seed)
    with H5Writer(path, attrs, splits=list(splits)) as writer:
        for split, scenes in splits.items():
            writer.append(split, scenes)
    return Path(path)


def split_sizes(num: int, test_fraction: float) -> dict[str, int]:
    """``{"train": n_train, "test": n_test}`` with ``n_test = round(num * test_fraction)``."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1], got {test_fraction}")
    n_test = int(round(num * test_fraction))
    return {"train": num - n_test, "test": n_test}


def generate_h5(path: str | os.PathLike, name: str, num: int, seed: int, test_fraction: float = 0.1,
                progress: bool = False, workers: int = 1, **options: Any) -> Path:
    """Generate ``num`` scenes of dataset ``name`` and write them to ``path`` (atomically).

    The scenes are those of :func:`emorl_eval.data.generate` ``(name, num, seed, **options)``;
    the first ``num - round(num * test_fraction)`` go to ``train``, the rest to ``test``.
    ``workers`` processes generate chunks in parallel (same file for any number of workers).
    Returns the path written.
    """
    from emorl_eval.data.registry import CHUNK, iter_chunks

    sizes = split_sizes(num, test_fraction)
    chunks: Iterable[SceneArrays] = iter_chunks(name, num, seed, workers=workers, **options)
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, total=max(1, -(-num // CHUNK)), desc=f"generating {name}", unit="chunk")
    writer = None
    try:
        row = 0
        for scenes in chunks:
            if writer is None:
                attrs = root_attrs(name, scenes.factor_specs, scenes.max_objects, scenes.options, seed)
                writer = H5Writer(path, attrs)
            # split the chunk at the train/test boundary
            cut = min(len(scenes), max(0, sizes["train"] - row))
            if cut:
                writer.append("train", scenes.subset(slice(0, cut)))
            if cut < len(scenes):
                writer.append("test", scenes.subset(slice(cut, len(scenes))))
            row += len(scenes)
    except BaseException as err:
        if writer is not None:
            writer.__exit__(type(err), err, None)
        raise
    assert writer is not None
    writer.__exit__(None, None, None)
    return Path(path)


# ----------------------------------------------------------------------------------- reading


@dataclass
class SplitArrays:
    """Handles to one split's datasets in an open file (h5py datasets, read lazily)."""

    imgs: Any
    masks: Any
    factors: Any | None


def open_h5(path: str | os.PathLike):
    """Open ``path`` read-only; a missing or unreadable file raises :class:`DataError`."""
    import h5py

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not an HDF5 file")
    try:
        return h5py.File(p, "r")
    except OSError as err:
        raise DataError(f"{p}: not a readable HDF5 file ({err})") from None


def split_arrays(handle, path: str | os.PathLike, split: str) -> SplitArrays:
    """Validate keys and shapes of ``split`` in an open file and return its datasets."""
    p = Path(path)
    if split not in handle:
        have = ", ".join(k for k in handle.keys()) or "none"
        raise DataError(f"{p}: no split {split!r} (groups: {have})")
    g = handle[split]
    for key in ("imgs", "masks"):
        if key not in g:
            raise DataError(f"{p}: split {split!r} has no {key!r} dataset (has: {', '.join(g.keys()) or 'nothing'})")
    imgs, masks = g["imgs"], g["masks"]
    if imgs.ndim != 4 or imgs.shape[-1] not in (1, 3):
        raise DataError(f"{p}: {split}/imgs must be [N,H,W,3], got shape {tuple(imgs.shape)}")
    if masks.ndim not in (4, 5) or masks.shape[0] != imgs.shape[0] or (masks.ndim == 5 and masks.shape[-1] != 1):
        raise DataError(f"{p}: {split}/masks must be [N,K,H,W,1] with N={imgs.shape[0]}, got shape {tuple(masks.shape)}")
    factors = g["factors"] if "factors" in g else None
    if factors is not None and (factors.ndim != 3 or factors.shape[:2] != masks.shape[:2]):
        raise DataError(f"{p}: {split}/factors must be [N,K,F] with N,K={tuple(masks.shape[:2])}, got shape {tuple(factors.shape)}")
    return SplitArrays(imgs, masks, factors)


def layout_of(handle, path: str | os.PathLike, split: str, clevr_image_size: int = 96) -> tuple[Layout, SplitArrays]:
    """The :class:`Layout` and validated datasets of ``split``."""
    arrays = split_arrays(handle, path, split)
    nf = arrays.factors.shape[-1] if arrays.factors is not None else 0
    layout = resolve_layout(Path(path), dict(handle.attrs), tuple(arrays.imgs.shape[1:]), nf, clevr_image_size)
    if not layout.clevr_crop and tuple(arrays.masks.shape[2:4]) != tuple(arrays.imgs.shape[1:3]):
        raise DataError(f"{path}: {split}/masks are {arrays.masks.shape[2]}x{arrays.masks.shape[3]} but images are "
                        f"{arrays.imgs.shape[1]}x{arrays.imgs.shape[2]}")
    if not layout.official:
        expected = len(layout.factor_specs) + (layout.visibility_column is not None)
        if nf != expected:
            raise DataError(f"{path}: {split}/factors has {nf} columns, the file's factor specs declare {expected}")
    return layout, arrays


def decode_rows(layout: Layout, imgs: np.ndarray, masks: np.ndarray, factors: np.ndarray | None) -> dict[str, np.ndarray]:
    """Turn stored rows into item arrays.

    Args:
        imgs: uint8 ``[B, H, W, C]``; masks ``[B, K, H, W(, 1)]``; factors ``[B, K, F']`` or None.

    Returns:
        ``image`` float32 ``[B, 3, H', W']`` in [0, 1], ``masks`` int64 ``[B, H'', W'']`` label
        maps, ``visibility`` bool ``[B, K-1]``, ``factors`` float32 ``[B, K-1, F]``.
    """
    if layout.clevr_crop:
        from emorl_eval.data.preprocess import clevr_crop_images, clevr_crop_masks

        imgs = clevr_crop_images(imgs, layout.image_size)
        masks = clevr_crop_masks(masks)
    image = np.ascontiguousarray(imgs.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
    if image.shape[1] == 1:
        image = np.repeat(image, 3, axis=1)
    labels = onehot_to_labels(np.asarray(masks))
    b, k = masks.shape[0], masks.shape[1]
    nf = len(layout.factor_specs)
    if factors is None:
        obj_factors = np.zeros((b, k - 1, 0), dtype=np.float32)
    else:
        obj_factors = np.asarray(factors[:, 1:, :nf], dtype=np.float32)
    if layout.visibility_column is not None and factors is not None:
        visibility = np.asarray(factors[:, 1:, layout.visibility_column]) > 0.5
    else:
        kk = np.arange(1, k)
        visibility = (labels[:, None, :, :] == kk[None, :, None, None]).any(axis=(2, 3))
    return {"image": image, "masks": labels, "visibility": visibility, "factors": obj_factors}


def read_scenes(path: str | os.PathLike, split: str = "test", start: int = 0, stop: int | None = None) -> dict[str, Any]:
    """Rows ``start:stop`` of ``split`` as decoded item arrays (see :func:`decode_rows`) plus
    ``layout`` (:class:`Layout`) and ``num`` (rows in the split)."""
    with open_h5(path) as h:
        layout, arrays = layout_of(h, path, split)
        n = arrays.imgs.shape[0]
        stop = n if stop is None else min(stop, n)
        rows = decode_rows(layout, arrays.imgs[start:stop], arrays.masks[start:stop],
                           None if arrays.factors is None else arrays.factors[start:stop])
    rows["layout"] = layout
    rows["num"] = n
    return rows
