"""Textured Multi-dSprites (64x64): the appendix B.1 variant of Multi-dSprites.

"A simple uniform texture as background and foreground objects that are multi-coloured with a
distinctive pattern", so colour alone cannot segment the scene. Our version:

* background: one colour per image (hue ~ U[0,1], saturation ~ U[0, 0.3], value ~ U[0.3, 0.7])
  modulated by a fixed fine checkerboard of 2x2-px cells (+-0.08 in value): the same texture
  everywhere in the image;
* 2-5 sprites drawn as in :mod:`emorl_eval.data.multi_dsprites` (shape, scale, orientation,
  position, painting order, occlusion), each filled with a two-colour pattern defined in the
  sprite's own frame (it rotates and scales with the sprite): 0 stripes, 1 checker, 2 rings;
  colour A has hue ~ U[0,1], colour B the hue shifted by U[0.25, 0.75]; S, V ~ U[0.6, 1].

Factors per object: ``x``, ``y``, ``scale``, ``orientation`` (continuous), ``shape`` (3),
``pattern`` (3), ``hue_a``, ``hue_b`` (continuous).
"""

from __future__ import annotations

import numpy as np

from emorl_eval.data.multi_dsprites import check_sprite_options, paint_sprites, sample_sprites
from emorl_eval.data.scenes import SceneArrays, visibility_from_masks
from emorl_eval.data.schema import FactorSpec
from emorl_eval.data.sprites import hsv_to_rgb, to_uint8

FACTOR_SPECS = [
    FactorSpec("x", "continuous"),
    FactorSpec("y", "continuous"),
    FactorSpec("scale", "continuous"),
    FactorSpec("orientation", "continuous"),
    FactorSpec("shape", "discrete", 3),
    FactorSpec("pattern", "discrete", 3),
    FactorSpec("hue_a", "continuous"),
    FactorSpec("hue_b", "continuous"),
]
PATTERN_NAMES = ("stripes", "checker", "rings")
# pattern period in sprite-radius units (a sprite spans 2 radius units)
PERIOD = 0.5
BACKGROUND_AMPLITUDE = 0.08


def pattern_select(pattern: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """bool ``[P]``: True where colour B shows at sprite-local points ``u, v`` ``[P]`` of
    sprites with pattern codes ``pattern`` ``[P]``."""
    stripes = np.floor(u / PERIOD) % 2 == 1
    checker = (np.floor(u / PERIOD) + np.floor(v / PERIOD)) % 2 == 1
    rings = np.floor(np.sqrt(u * u + v * v) / PERIOD) % 2 == 1
    return np.where(pattern == 0, stripes, np.where(pattern == 1, checker, rings))


def background_texture(hsv: np.ndarray, size: int) -> np.ndarray:
    """float ``[N, size, size, 3]``: colour ``hsv`` ``[N, 3]`` with a 2x2-px checkerboard in value."""
    yy, xx = np.mgrid[0:size, 0:size]
    sign = np.where(((yy // 2) + (xx // 2)) % 2 == 0, 1.0, -1.0).astype(np.float32)
    value = np.clip(hsv[:, 2, None, None] + BACKGROUND_AMPLITUDE * sign[None], 0, 1)
    h = np.broadcast_to(hsv[:, 0, None, None], value.shape)
    s = np.broadcast_to(hsv[:, 1, None, None], value.shape)
    return hsv_to_rgb(h, s, value).astype(np.float32)


def generate_textured_dsprites(num: int, seed: int, min_objects: int = 2, max_objects: int = 5,
                               size: int = 64) -> SceneArrays:
    """Generate ``num`` textured Multi-dSprites scenes from ``seed``.

    Returns:
        :class:`SceneArrays`: images uint8 ``[N,size,size,3]``, masks ``[N,size,size]``,
        visibility ``[N,max_objects]``, factors ``[N,max_objects,8]``.
    """
    check_sprite_options(min_objects, max_objects, size)
    rng = np.random.default_rng(seed)
    p = sample_sprites(rng, num, min_objects, max_objects)
    pattern = rng.integers(0, 3, (num, max_objects))
    hue_a = rng.uniform(0, 1, (num, max_objects))
    hue_b = (hue_a + rng.uniform(0.25, 0.75, (num, max_objects))) % 1.0
    sv = rng.uniform(0.6, 1.0, (num, max_objects, 2, 2))  # [.., colour A/B, S/V]
    col_a = hsv_to_rgb(hue_a, sv[..., 0, 0], sv[..., 0, 1]).astype(np.float32)  # [N, M, 3]
    col_b = hsv_to_rgb(hue_b, sv[..., 1, 0], sv[..., 1, 1]).astype(np.float32)
    bg_hsv = rng.uniform([0.0, 0.0, 0.3], [1.0, 0.3, 0.7], (num, 3)).astype(np.float32)

    canvas = background_texture(bg_hsv, size)
    labels = np.zeros((num, size, size), dtype=np.uint8)

    def texture(m: int, n: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        use_b = pattern_select(pattern[n, m], u, v)[:, None]
        return np.where(use_b, col_b[n, m], col_a[n, m])

    paint_sprites(canvas, labels, p, texture)
    factors = np.stack([p["x"], p["y"], p["scale"], p["orientation"], p["shape"], pattern,
                        hue_a, hue_b], axis=-1).astype(np.float32)
    factors[~p["present"]] = 0
    return SceneArrays(
        images=to_uint8(canvas),
        masks=labels,
        visibility=visibility_from_masks(labels, max_objects),
        factors=factors,
        factor_specs=list(FACTOR_SPECS),
        name="textured_dsprites",
        options={"min_objects": min_objects, "max_objects": max_objects, "size": size},
    )
