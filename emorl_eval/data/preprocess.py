"""EfficientMORL's preprocessing of raw 240x320 CLEVR rows (``lib/datasets.py``)."""

from __future__ import annotations

import numpy as np

from emorl_eval.data.layouts import CLEVR_CROP


def clevr_crop_images(imgs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``[B, 240, 320, 3]`` -> uint8 ``[B, size[0], size[1], 3]``: PIL crop to the
    192x192 box ``(64, 29, 256, 221)``, then PIL's bicubic resize (EMORL's default filter)."""
    from PIL import Image

    out = np.empty((imgs.shape[0], size[0], size[1], imgs.shape[-1]), dtype=np.uint8)
    for i, img in enumerate(imgs):
        pil = Image.fromarray(np.asarray(img, dtype=np.uint8)).crop(CLEVR_CROP)
        out[i] = np.asarray(pil.resize((size[1], size[0]), Image.BICUBIC)).reshape(out.shape[1:])
    return out


def clevr_crop_masks(masks: np.ndarray) -> np.ndarray:
    """Masks ``[B, K, 240, 320(, 1)]`` -> ``[B, K, 192, 192(, 1)]``: the same crop, no resize
    (EMORL scores segmentations at 192x192)."""
    left, top, right, bottom = CLEVR_CROP
    return masks[:, :, top:bottom, left:right]
