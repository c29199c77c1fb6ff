"""Built-in multi-object datasets, HDF5/TFRecord I/O and the torch Dataset.

Public API (see ``docs/contracts.md``, section Data)::

    available_datasets() -> list[str]
    generate(name, num, seed, **options) -> SceneArrays
    generate_h5(path, name, num, seed, test_fraction=0.1, **options) -> Path
    ObjectsDataset(path, split="test")          # torch Dataset (imports torch lazily)
    FactorSpec(name, kind, num_classes)
"""

from __future__ import annotations

from typing import Any

from emorl_eval.data.h5io import generate_h5, read_scenes, write_scenes_h5
from emorl_eval.data.registry import available_datasets, generate
from emorl_eval.data.scenes import SceneArrays
from emorl_eval.data.schema import FactorSpec

__all__ = [
    "FactorSpec",
    "ObjectsDataset",
    "SceneArrays",
    "available_datasets",
    "generate",
    "generate_h5",
    "read_scenes",
    "write_scenes_h5",
]


def __getattr__(name: str) -> Any:
    # torch is imported only when the Dataset is used (keeps `emorl-eval data generate` light)
    if name == "ObjectsDataset":
        from emorl_eval.data.torch_dataset import ObjectsDataset

        return ObjectsDataset
    raise AttributeError(f"module 'emorl_eval.data' has no attribute {name!r}")
