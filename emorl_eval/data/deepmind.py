"""DeepMind multi_object_datasets records (``tf.train.Example`` features) <-> our row layout.

Feature specs as in deepmind/multi_object_datasets (``datasets.md`` section 1.1); every image
and mask pixel is a 1-byte entry, masks are 0/255 with entity 0 = background:

* tetrominoes: image [35,35,3]; mask [4,35,35,1]; x, y, shape, visibility [4]; color [4,3]
* multi_dsprites: image [64,64,C]; mask **[64,64,K,1]** (H, W, K order); x, y, shape, visibility,
  orientation, scale [K]; color [K,C] (colored_on_grayscale: C=3, K=6)
* clevr: image [240,320,3]; mask [11,240,320,1]; x, y, z, rotation, visibility [11];
  size, material, shape, color [11] 1-byte codes

Factor columns written to our files (visibility appended last):

* tetrominoes: x, y (continuous, DeepMind's raw values), shape (discrete, raw code), color
  (discrete, our code for the binary RGB vector: red, green, blue, yellow, magenta, cyan)
* multi_dsprites: x, y, scale, orientation (continuous), shape (discrete, DeepMind code - 1:
  0 square, 1 ellipse, 2 heart, the dSprites convention; inferred), r, g, b (continuous)
* clevr: x, y, z, rotation (continuous), size, material, shape, color (discrete, CLEVR codes)

The number of classes of a discrete factor is its declared count or, if the data hold larger
codes, the largest code + 1 (set by the converter at the end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emorl_eval.data.layouts import CLEVR_FACTOR_SPECS
from emorl_eval.data.schema import FactorSpec
from emorl_eval.errors import DataError

# 4r + 2g + b -> our colour code (tetrominoes.COLORS order); black/white never occur on objects
_RGB_TO_CODE = np.array([0, 2, 1, 5, 0, 4, 3, 0], dtype=np.float32)


@dataclass(frozen=True)
class DeepMindSchema:
    """Shapes and factor specs of one DeepMind dataset."""

    name: str
    image_hw: tuple[int, int]
    mask_hwk: bool  # masks stored [H, W, K, 1] instead of [K, H, W, 1]
    factor_specs: tuple[FactorSpec, ...]
    preprocess: str = ""  # "clevr_crop" for raw CLEVR frames


SCHEMAS: dict[str, DeepMindSchema] = {
    "tetrominoes": DeepMindSchema(
        "tetrominoes", (35, 35), False,
        (FactorSpec("x", "continuous"), FactorSpec("y", "continuous"),
         FactorSpec("shape", "discrete", 19), FactorSpec("color", "discrete", 6))),
    "multi_dsprites": DeepMindSchema(
        "multi_dsprites", (64, 64), True,
        (FactorSpec("x", "continuous"), FactorSpec("y", "continuous"), FactorSpec("scale", "continuous"),
         FactorSpec("orientation", "continuous"), FactorSpec("shape", "discrete", 3),
         FactorSpec("r", "continuous"), FactorSpec("g", "continuous"), FactorSpec("b", "continuous"))),
    "clevr": DeepMindSchema("clevr", (240, 320), False, tuple(CLEVR_FACTOR_SPECS), "clevr_crop"),
}


def _get(example: dict, key: str, where: str) -> np.ndarray:
    if key not in example:
        raise DataError(f"{where}: no feature {key!r} (features: {', '.join(sorted(example)) or 'none'})")
    value = example[key]
    if isinstance(value, list):
        raise DataError(f"{where}: feature {key!r} holds multi-byte strings, expected one byte per element")
    return np.asarray(value)


def example_to_row(schema: DeepMindSchema, example: dict, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One decoded Example -> (imgs uint8 ``[H,W,3]``, masks uint8 ``[K,H,W,1]``, factors
    float32 ``[K,F+1]`` with visibility last). Wrong sizes raise :class:`DataError`."""
    h, w = schema.image_hw
    image = _get(example, "image", where)
    if image.dtype != np.uint8 or image.size not in (h * w, h * w * 3):
        raise DataError(f"{where}: image has {image.size} values, expected {h}x{w}x3 for {schema.name}")
    image = image.reshape(h, w, -1)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    mask = _get(example, "mask", where)
    if mask.dtype != np.uint8 or mask.size % (h * w):
        raise DataError(f"{where}: mask has {mask.size} values, not a multiple of {h}x{w}")
    k = mask.size // (h * w)
    mask = mask.reshape(h, w, k).transpose(2, 0, 1) if schema.mask_hwk else mask.reshape(k, h, w)
    vis = _get(example, "visibility", where).astype(np.float32).reshape(-1)
    if vis.size != k:
        raise DataError(f"{where}: visibility has {vis.size} entries but the mask has {k} entities")

    def per_object(key: str, cols: int = 1) -> np.ndarray:
        v = _get(example, key, where).astype(np.float32)
        if v.size != k * cols:
            raise DataError(f"{where}: feature {key!r} has {v.size} values, expected {k * cols}")
        return v.reshape(k, cols) if cols > 1 else v.reshape(k)

    if schema.name == "tetrominoes":
        rgb = per_object("color", 3)
        bits = (rgb > 0.5 * max(float(rgb.max(initial=0)), 1e-6)).astype(np.int64)
        color = _RGB_TO_CODE[bits[:, 0] * 4 + bits[:, 1] * 2 + bits[:, 2]]
        cols = [per_object("x"), per_object("y"), per_object("shape"), color]
    elif schema.name == "multi_dsprites":
        color = _get(example, "color", where).astype(np.float32).reshape(k, -1)
        if color.shape[1] == 1:
            color = np.repeat(color, 3, axis=1)
        shape = np.maximum(per_object("shape") - 1, 0)
        cols = [per_object("x"), per_object("y"), per_object("scale"), per_object("orientation"), shape,
                color[:, 0], color[:, 1], color[:, 2]]
    else:
        cols = [per_object(key) for key in ("x", "y", "z", "rotation", "size", "material", "shape", "color")]
    factors = np.stack(cols + [vis], axis=1).astype(np.float32)
    return image, mask[..., None], factors


def row_to_example(schema: DeepMindSchema, image: np.ndarray, labels: np.ndarray, factors: np.ndarray,
                   visibility: np.ndarray, num_entities: int) -> dict:
    """Our generated row (image uint8 ``[H,W,3]``, label map ``[H,W]``, object factors
    ``[M,F]``, visibility ``[M]``) -> DeepMind feature dict (for test fixtures)."""
    from emorl_eval.data.tetrominoes import COLORS

    k = num_entities
    mask = (labels[None] == np.arange(k)[:, None, None]).astype(np.uint8) * 255  # [K, H, W]
    mask = mask.transpose(1, 2, 0)[..., None] if schema.mask_hwk else mask[..., None]
    pad = np.zeros((k, factors.shape[1]), np.float32)
    pad[1:] = factors
    vis = np.concatenate([[1.0], visibility.astype(np.float32)]).astype(np.float32)
    ex: dict = {"image": image.astype(np.uint8), "mask": mask.astype(np.uint8), "visibility": vis}
    if schema.name == "tetrominoes":
        ex.update(x=pad[:, 0], y=pad[:, 1], shape=pad[:, 2])
        color = np.zeros((k, 3), np.float32)
        color[1:] = COLORS[pad[1:, 3].astype(int)]
        ex["color"] = color
    elif schema.name == "multi_dsprites":
        shape = pad[:, 4] + 1
        shape[0] = 0
        ex.update(x=pad[:, 0], y=pad[:, 1], scale=pad[:, 2], orientation=pad[:, 3], shape=shape,
                  color=np.ascontiguousarray(pad[:, 5:8]))
    else:
        ex.update(x=pad[:, 0], y=pad[:, 1], z=pad[:, 2], rotation=pad[:, 3])
        for j, key in enumerate(("size", "material", "shape", "color")):
            ex[key] = pad[:, 4 + j].astype(np.uint8)
    return ex
