"""Multi-dSprites "colored_on_grayscale" (64x64): 2-5 coloured sprites on a grey background.

Distribution re-implementation of DeepMind's variant (``datasets.md`` section 3.2):
number of sprites n ~ U{2..5}; per sprite shape ~ U{square, ellipse, heart}, scale ~ U[0.5, 1],
orientation ~ U[0, 2pi), x, y ~ U[0, 1], colour HSV with hue ~ U[0, 1] and saturation, value
~ U[0.5, 1] (the real data's "no green square" count, 0.817, matches S, V >= 0.5); background
grey level ~ U[0, 1]. Sprites are painted in slot order, later ones occluding earlier ones; the
label map holds the last painter; a sprite that ends up fully covered has visibility False.

Factors per object: ``x``, ``y``, ``scale``, ``orientation`` (continuous), ``shape`` (3 classes:
0 square, 1 ellipse, 2 heart), ``r``, ``g``, ``b`` (continuous colour in [0, 1], as DeepMind's
``color``). Unused slots have zero factors and visibility False.
"""

from __future__ import annotations

import numpy as np

from emorl_eval.data.scenes import SceneArrays, visibility_from_masks
from emorl_eval.data.schema import FactorSpec
from emorl_eval.data.sprites import MARGIN, hsv_to_rgb, inside, sprite_local_coords, to_uint8

FACTOR_SPECS = [
    FactorSpec("x", "continuous"),
    FactorSpec("y", "continuous"),
    FactorSpec("scale", "continuous"),
    FactorSpec("orientation", "continuous"),
    FactorSpec("shape", "discrete", 3),
    FactorSpec("r", "continuous"),
    FactorSpec("g", "continuous"),
    FactorSpec("b", "continuous"),
]


def check_sprite_options(min_objects: int, max_objects: int, size: int) -> None:
    """Reject object counts and canvas sizes the sprite generators cannot draw (uint8 labels)."""
    if not 1 <= min_objects <= max_objects:
        raise ValueError("need 1 <= min_objects <= max_objects")
    if max_objects > 254 or size < 4:
        raise ValueError("max_objects must be <= 254 and size >= 4")


def sample_sprites(rng: np.random.Generator, num: int, min_objects: int, max_objects: int) -> dict[str, np.ndarray]:
    """Per image count ``[N]`` and per slot sprite parameters ``[N, M]`` (slots >= count unused)."""
    count = rng.integers(min_objects, max_objects + 1, num)
    shape = (num, max_objects)
    return {
        "count": count,
        "present": np.arange(max_objects)[None, :] < count[:, None],
        "x": rng.uniform(0, 1, shape),
        "y": rng.uniform(0, 1, shape),
        "scale": rng.uniform(0.5, 1.0, shape),
        "orientation": rng.uniform(0, 2 * np.pi, shape),
        "shape": rng.integers(0, 3, shape),
    }


def paint_sprites(canvas: np.ndarray, labels: np.ndarray, params: dict[str, np.ndarray], textures) -> None:
    """Paint sprites in slot order onto ``canvas`` float ``[N, H, W, 3]`` and ``labels``
    uint8 ``[N, H, W]`` in place. ``textures(slot, image_index [P], u [P], v [P]) -> float
    [P, 3]`` gives the colour of the ``P`` pixels a sprite covers, from their image index and
    sprite-local coordinates."""
    size = canvas.shape[1]
    for m in range(params["x"].shape[1]):
        cx = MARGIN + (1 - 2 * MARGIN) * params["x"][:, m]
        cy = MARGIN + (1 - 2 * MARGIN) * params["y"][:, m]
        u, v = sprite_local_coords(size, cx, cy, params["scale"][:, m], params["orientation"][:, m])
        hit = inside(params["shape"][:, m], u, v) & params["present"][:, m, None, None]
        idx = np.nonzero(hit)
        canvas[idx] = textures(m, idx[0], u[idx], v[idx])
        labels[idx] = m + 1


def generate_multi_dsprites(num: int, seed: int, min_objects: int = 2, max_objects: int = 5,
                            size: int = 64) -> SceneArrays:
    """Generate ``num`` Multi-dSprites (colored_on_grayscale) scenes from ``seed``.

    Returns:
        :class:`SceneArrays`: images uint8 ``[N,size,size,3]``, masks ``[N,size,size]``,
        visibility ``[N,max_objects]``, factors ``[N,max_objects,8]``.
    """
    check_sprite_options(min_objects, max_objects, size)
    rng = np.random.default_rng(seed)
    p = sample_sprites(rng, num, min_objects, max_objects)
    hsv = rng.uniform([0.0, 0.5, 0.5], [1.0, 1.0, 1.0], (num, max_objects, 3))
    rgb = hsv_to_rgb(hsv[..., 0], hsv[..., 1], hsv[..., 2]).astype(np.float32)  # [N, M, 3]
    grey = rng.uniform(0, 1, num).astype(np.float32)

    canvas = np.broadcast_to(grey[:, None, None, None], (num, size, size, 3)).copy()
    labels = np.zeros((num, size, size), dtype=np.uint8)
    paint_sprites(canvas, labels, p, lambda m, n, u, v: rgb[n, m])

    factors = np.stack([p["x"], p["y"], p["scale"], p["orientation"], p["shape"],
                        rgb[..., 0], rgb[..., 1], rgb[..., 2]], axis=-1).astype(np.float32)
    factors[~p["present"]] = 0
    return SceneArrays(
        images=to_uint8(canvas),
        masks=labels,
        visibility=visibility_from_masks(labels, max_objects),
        factors=factors,
        factor_specs=list(FACTOR_SPECS),
        name="multi_dsprites",
        options={"min_objects": min_objects, "max_objects": max_objects, "size": size},
    )
