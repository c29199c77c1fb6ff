"""Tetrominoes (35x35): three non-overlapping bevelled tetrominoes on black.

Re-implements DeepMind's multi_object_datasets Tetrominoes as documented and measured in
``../shared/design/datasets.md`` section 3.1:

* every object is 4 blocks of 5x5 px painted with the measured bevel template times a binary RGB
  colour (red, green, blue, yellow, magenta, cyan), so each object covers exactly 100 px;
* shapes are the 19 fixed (one-sided, rotations distinct) tetrominoes, uniform; the DeepMind
  README says "17" but the real data's statistics match 19 (P(no S/Z) = 0.503);
* objects are placed one after the other; an object's (shape, colour, top-left pixel) is redrawn
  until it overlaps none of the objects already placed (sequential rejection), so there is no
  occlusion and the background always has 35*35 - 300 = 925 px.

Factors per object: ``x``, ``y`` (bounding-box centre / 35, continuous), ``shape`` (19 classes,
codes below; S and Z are 11..14 as in the real data's ``no_zs`` split), ``color`` (6 classes).
"""

from __future__ import annotations

import numpy as np

from emorl_eval.data.scenes import SceneArrays
from emorl_eval.data.schema import FactorSpec

SIZE = 35
BLOCK = 5
NUM_OBJECTS = 3

# Per-channel value of every pixel of a 5x5 block (measured pixel-exact on real samples).
BLOCK_TEMPLATE = np.array(
    [
        [191, 255, 255, 255, 223],
        [127, 159, 159, 159, 191],
        [127, 159, 159, 159, 191],
        [127, 159, 159, 159, 191],
        [95, 63, 63, 63, 127],
    ],
    dtype=np.uint8,
)

# Binary RGB colours; code = index.
COLORS = np.array(
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.uint8
)
COLOR_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan")

# The 19 fixed tetrominoes as (row, col) block cells; code = index.
# I: 0-1, O: 2, T: 3-6, L: 7-10, S: 11-12, Z: 13-14, J: 15-18.
SHAPES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((0, 0), (0, 1), (0, 2), (0, 3)),  # I horizontal
    ((0, 0), (1, 0), (2, 0), (3, 0)),  # I vertical
    ((0, 0), (0, 1), (1, 0), (1, 1)),  # O
    ((0, 0), (0, 1), (0, 2), (1, 1)),  # T down
    ((0, 1), (1, 0), (1, 1), (2, 1)),  # T left
    ((0, 1), (1, 0), (1, 1), (1, 2)),  # T up
    ((0, 0), (1, 0), (1, 1), (2, 0)),  # T right
    ((0, 0), (1, 0), (2, 0), (2, 1)),  # L
    ((0, 0), (0, 1), (0, 2), (1, 0)),  # L 90
    ((0, 0), (0, 1), (1, 1), (2, 1)),  # L 180
    ((0, 2), (1, 0), (1, 1), (1, 2)),  # L 270
    ((0, 1), (0, 2), (1, 0), (1, 1)),  # S horizontal
    ((0, 0), (1, 0), (1, 1), (2, 1)),  # S vertical
    ((0, 0), (0, 1), (1, 1), (1, 2)),  # Z horizontal
    ((0, 1), (1, 0), (1, 1), (2, 0)),  # Z vertical
    ((0, 1), (1, 1), (2, 0), (2, 1)),  # J
    ((0, 0), (1, 0), (1, 1), (1, 2)),  # J 90
    ((0, 0), (0, 1), (1, 0), (2, 0)),  # J 180
    ((0, 0), (0, 1), (0, 2), (1, 2)),  # J 270
)
S_Z_CODES = (11, 12, 13, 14)

FACTOR_SPECS = [
    FactorSpec("x", "continuous"),
    FactorSpec("y", "continuous"),
    FactorSpec("shape", "discrete", len(SHAPES)),
    FactorSpec("color", "discrete", len(COLORS)),
]


def _shape_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per shape: pixel (dy, dx) offsets ``[19, 100, 2]``, template values ``[19, 100]``, and
    bounding-box height/width in px ``[19]`` each."""
    by, bx = np.mgrid[0:BLOCK, 0:BLOCK]
    offsets, values, heights, widths = [], [], [], []
    for cells in SHAPES:
        rows = np.array([r for r, _ in cells])
        cols = np.array([c for _, c in cells])
        dy = (rows[:, None, None] * BLOCK + by[None]).ravel()
        dx = (cols[:, None, None] * BLOCK + bx[None]).ravel()
        offsets.append(np.stack([dy, dx], axis=1))
        values.append(np.tile(BLOCK_TEMPLATE.ravel(), len(cells)))
        heights.append((rows.max() + 1) * BLOCK)
        widths.append((cols.max() + 1) * BLOCK)
    return np.stack(offsets), np.stack(values), np.array(heights), np.array(widths)


_OFFSETS, _VALUES, _HEIGHTS, _WIDTHS = _shape_tables()


def generate_tetrominoes(num: int, seed: int, num_objects: int = NUM_OBJECTS,
                         shapes: tuple[int, ...] | None = None) -> SceneArrays:
    """Generate ``num`` Tetrominoes scenes, deterministically from ``seed``.

    Args:
        num: number of images N.
        seed: seed of the numpy generator (same seed -> identical arrays).
        num_objects: objects per image M (3 in the real data).
        shapes: allowed shape codes (default all 19; e.g. drop 0 for the 18-orientation
            hypothesis of datasets.md section 3.1).

    Returns:
        :class:`SceneArrays` with images uint8 ``[N,35,35,3]``, masks ``[N,35,35]``,
        visibility ``[N,M]`` (all True) and factors ``[N,M,4]`` (x, y, shape, color).
    """
    if num < 0:
        raise ValueError("num must be >= 0")
    allowed = np.arange(len(SHAPES)) if shapes is None else np.asarray(sorted(set(shapes)), dtype=np.int64)
    if allowed.size == 0 or allowed.min() < 0 or allowed.max() >= len(SHAPES):
        raise ValueError(f"shapes must be codes in 0..{len(SHAPES) - 1}")
    rng = np.random.default_rng(seed)
    npx = SIZE * SIZE
    occupied = np.zeros((num, npx), dtype=bool)
    images = np.zeros((num, npx, 3), dtype=np.uint8)
    masks = np.zeros((num, npx), dtype=np.uint8)
    factors = np.zeros((num, num_objects, 4), dtype=np.float32)

    for obj in range(num_objects):
        shape = np.empty(num, dtype=np.int64)
        color = np.empty(num, dtype=np.int64)
        top = np.empty(num, dtype=np.int64)
        left = np.empty(num, dtype=np.int64)
        todo = np.arange(num)
        # Sequential rejection: redraw (shape, colour, position) of the images whose candidate
        # overlaps an already placed object, until every image has a free placement.
        while todo.size:
            s = allowed[rng.integers(0, allowed.size, todo.size)]
            c = rng.integers(0, len(COLORS), todo.size)
            t = rng.integers(0, SIZE - _HEIGHTS[s] + 1)
            l = rng.integers(0, SIZE - _WIDTHS[s] + 1)
            pix = (t[:, None] + _OFFSETS[s, :, 0]) * SIZE + (l[:, None] + _OFFSETS[s, :, 1])
            clash = occupied[todo[:, None], pix].any(axis=1)
            ok = ~clash
            idx = todo[ok]
            shape[idx], color[idx], top[idx], left[idx] = s[ok], c[ok], t[ok], l[ok]
            todo = todo[clash]
        pix = (top[:, None] + _OFFSETS[shape, :, 0]) * SIZE + (left[:, None] + _OFFSETS[shape, :, 1])
        rows = np.arange(num)[:, None]
        occupied[rows, pix] = True
        masks[rows, pix] = obj + 1
        images[rows, pix] = _VALUES[shape][:, :, None] * COLORS[color][:, None, :]
        factors[:, obj, 0] = (left + _WIDTHS[shape] / 2) / SIZE
        factors[:, obj, 1] = (top + _HEIGHTS[shape] / 2) / SIZE
        factors[:, obj, 2] = shape
        factors[:, obj, 3] = color

    return SceneArrays(
        images=images.reshape(num, SIZE, SIZE, 3),
        masks=masks.reshape(num, SIZE, SIZE),
        visibility=np.ones((num, num_objects), dtype=bool),
        factors=factors,
        factor_specs=list(FACTOR_SPECS),
        name="tetrominoes",
        options={"num_objects": num_objects, "shapes": [int(v) for v in allowed]},
    )
