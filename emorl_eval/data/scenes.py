"""The in-memory result of a scene generator (numpy arrays, one row per image)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emorl_eval.data.schema import FactorSpec


@dataclass
class SceneArrays:
    """A batch of generated scenes.

    Attributes:
        images: uint8 ``[N, H, W, 3]``.
        masks: uint8 ``[N, H, W]`` label maps: 0 = background, ``1..M`` = object slot ids of the
            pixels each object shows after occlusion.
        visibility: bool ``[N, M]``; ``visibility[n, m]`` is True iff object ``m + 1`` covers at
            least one pixel of image ``n`` (unused slots are False).
        factors: float32 ``[N, M, F]`` per-object ground truth; discrete factors hold integer
            codes ``0..num_classes-1``; rows of unused slots are 0.
        factor_specs: ``F`` specs, in the order of the last axis of ``factors``.
        name: dataset name (a key of :func:`emorl_eval.data.available_datasets`).
        options: the generator options used (stored in HDF5 attributes for provenance).
    """

    images: np.ndarray
    masks: np.ndarray
    visibility: np.ndarray
    factors: np.ndarray
    factor_specs: list[FactorSpec]
    name: str
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def max_objects(self) -> int:
        return int(self.visibility.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def validate(self) -> None:
        """Raise ``ValueError`` if the arrays do not have the documented shapes and dtypes."""
        n, h, w, c = self.images.shape
        m = self.visibility.shape[1]
        checks = [
            (self.images.dtype == np.uint8 and c == 3, f"images must be uint8 [N,H,W,3], got {self.images.dtype} {self.images.shape}"),
            (self.masks.dtype == np.uint8 and self.masks.shape == (n, h, w), f"masks must be uint8 [N,H,W], got {self.masks.dtype} {self.masks.shape}"),
            (self.visibility.dtype == bool and self.visibility.shape[0] == n, f"visibility must be bool [N,M], got {self.visibility.dtype} {self.visibility.shape}"),
            (self.factors.dtype == np.float32 and self.factors.shape == (n, m, len(self.factor_specs)), f"factors must be float32 [N,M,F], got {self.factors.dtype} {self.factors.shape}"),
            (int(self.masks.max(initial=0)) <= m, f"mask ids exceed M={m}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"{self.name}: {msg}")

    def subset(self, index: slice | np.ndarray) -> "SceneArrays":
        """Rows ``index`` of every array (a view where numpy gives one)."""
        return SceneArrays(self.images[index], self.masks[index], self.visibility[index],
                           self.factors[index], list(self.factor_specs), self.name, dict(self.options))


def visibility_from_masks(masks: np.ndarray, max_objects: int) -> np.ndarray:
    """bool ``[N, M]``: which object ids ``1..M`` occur in label maps ``masks`` ``[N, H, W]``."""
    n = masks.shape[0]
    k = max_objects + 1
    if n == 0:
        return np.zeros((0, max_objects), dtype=bool)
    flat = masks.reshape(n, -1).astype(np.int64) + k * np.arange(n)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n * k).reshape(n, k)
    return counts[:, 1:] > 0


def concat_scenes(parts: list[SceneArrays]) -> SceneArrays:
    """Concatenate batches of the same dataset along N."""
    if not parts:
        raise ValueError("nothing to concatenate")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return SceneArrays(
        images=np.concatenate([p.images for p in parts]),
        masks=np.concatenate([p.masks for p in parts]),
        visibility=np.concatenate([p.visibility for p in parts]),
        factors=np.concatenate([p.factors for p in parts]),
        factor_specs=list(first.factor_specs),
        name=first.name,
        options=dict(first.options),
    )
