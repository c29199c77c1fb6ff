"""How to read a dataset file in the EfficientMORL ``.h5`` layout.

Files we write carry their schema as attributes (``format="emorl-eval"``). Official
EfficientMORL files (``tetrominoes.h5``, ``multi_dsprites_colored_on_grayscale.h5``,
``clevr6_with_masks_and_factors_test.h5``, ...) carry none, so their schema is inferred from the
stored image size with the known schemas below (``../shared/design/datasets.md`` section 1.3).

Entity 0 of ``masks``/``factors`` in the file is the background; objects are entities ``1..K-1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from emorl_eval.data.schema import FactorSpec, specs_from_json
from emorl_eval.errors import DataError

FORMAT = "emorl-eval"
FORMAT_VERSION = 1

# EfficientMORL's CLEVR preprocessing: PIL crop box (left, top, right, bottom), then resize.
CLEVR_CROP = (64, 29, 256, 221)
CLEVR_RAW_SHAPE = (240, 320)

# CLEVR factors in the EMORL test file: x, y, z, rotation, size, material, shape, color, visibility.
CLEVR_FACTOR_SPECS = [
    FactorSpec("x", "continuous"),
    FactorSpec("y", "continuous"),
    FactorSpec("z", "continuous"),
    FactorSpec("rotation", "continuous"),
    FactorSpec("size", "discrete", 2),
    FactorSpec("material", "discrete", 2),
    FactorSpec("shape", "discrete", 3),
    FactorSpec("color", "discrete", 8),
]


@dataclass
class Layout:
    """How to turn one file's arrays into items.

    Attributes:
        dataset_name: e.g. ``"tetrominoes"``.
        factor_specs: specs of the factor columns used (visibility column excluded).
        visibility_column: index of the visibility column in ``factors`` or None (then
            visibility = the object has > 0 pixels in the mask).
        official: True for files without our attributes.
        clevr_crop: apply EfficientMORL's CLEVR crop (images: crop + bicubic resize to
            ``image_size``; masks: crop only, 192x192).
        image_size: (H, W) of the returned images.
        mask_size: (H, W) of the returned label maps.
        attrs: our root attributes (empty for official files).
    """

    dataset_name: str
    factor_specs: list[FactorSpec]
    visibility_column: int | None
    official: bool
    clevr_crop: bool
    image_size: tuple[int, int]
    mask_size: tuple[int, int]
    attrs: dict = field(default_factory=dict)


def _ours(path: Path, attrs: dict, image_hw: tuple[int, int], clevr_image_size: int) -> Layout:
    try:
        specs = specs_from_json(attrs["factor_specs"])
        name = str(attrs["dataset_name"])
    except (KeyError, ValueError, TypeError) as err:
        raise DataError(f"{path}: emorl-eval file with broken attributes ({err})") from None
    vis = attrs.get("visibility_column")
    vis = None if vis is None or int(vis) < 0 else int(vis)
    if attrs.get("preprocess") == "clevr_crop":  # raw CLEVR frames converted from TFRecords
        crop = CLEVR_CROP[3] - CLEVR_CROP[1]
        return Layout(name, specs, vis, False, True, (clevr_image_size, clevr_image_size), (crop, crop), dict(attrs))
    return Layout(name, specs, vis, False, False, image_hw, image_hw, dict(attrs))


def resolve_layout(path: Path, attrs: dict, image_shape: tuple[int, ...], num_factors: int,
                   clevr_image_size: int = 96) -> Layout:
    """The :class:`Layout` of a file from its root attributes and stored shapes.

    Args:
        path: file path (for messages).
        attrs: the file's root attributes.
        image_shape: stored ``imgs`` shape per image ``(H, W, C)``.
        num_factors: size of the last axis of ``factors`` (0 if the file has none).
        clevr_image_size: output size of official raw CLEVR images (96 or 128, EMORL's
            ``clevr-small`` / ``clevr-large``).
    """
    hw = (int(image_shape[0]), int(image_shape[1]))
    if attrs.get("format") == FORMAT:
        return _ours(path, attrs, hw, clevr_image_size)
    generic = [FactorSpec(f"factor_{i}", "continuous") for i in range(num_factors)]
    if hw == (35, 35):
        return Layout("tetrominoes", generic, None, True, False, hw, hw)
    if hw == (64, 64):
        return Layout("multi_dsprites", generic, None, True, False, hw, hw)
    if hw == CLEVR_RAW_SHAPE:
        crop = CLEVR_CROP[3] - CLEVR_CROP[1]
        if num_factors == len(CLEVR_FACTOR_SPECS) + 1:
            specs, vis = list(CLEVR_FACTOR_SPECS), len(CLEVR_FACTOR_SPECS)
        else:
            specs, vis = generic, None
        return Layout("clevr", specs, vis, True, True, (clevr_image_size, clevr_image_size), (crop, crop))
    raise DataError(
        f"{path}: images of size {hw[0]}x{hw[1]} match no known dataset (35x35 Tetrominoes, "
        f"64x64 Multi-dSprites, 240x320 CLEVR) and the file has no emorl-eval attributes"
    )


def root_attrs(name: str, specs: list[FactorSpec], max_objects: int, options: dict, seed: int | None) -> dict:
    """The root attributes we write next to the arrays."""
    from emorl_eval.data.schema import specs_to_json

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset_name": name,
        "factor_specs": specs_to_json(specs),
        "factor_names": json.dumps([s.name for s in specs]),
        "visibility_column": len(specs),
        "max_objects": int(max_objects),
        "options": json.dumps(options, sort_keys=True),
        "seed": -1 if seed is None else int(seed),
    }
