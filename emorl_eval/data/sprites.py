"""Binary rasteriser of dSprites-like shapes (square, ellipse, heart), vectorised over images.

Our own drawing code (the dSprites npz is not shipped anywhere installable): each shape is an
implicit region in sprite-local coordinates, tested at pixel centres, so images and masks are
computed from the same inside-test and agree exactly (no anti-aliasing, like dSprites).
"""

from __future__ import annotations

import numpy as np

SHAPE_NAMES = ("square", "ellipse", "heart")

# Half-extent of a sprite at scale 1, as a fraction of the canvas side.
BASE_RADIUS = 0.16
# Sprite centres: x, y in [0, 1] map to [MARGIN, 1 - MARGIN] of the canvas.
MARGIN = 0.15


def sprite_local_coords(size: int, cx: np.ndarray, cy: np.ndarray, scale: np.ndarray,
                        orientation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of a ``size`` x ``size`` canvas in each sprite's local frame.

    Args:
        cx, cy: sprite centres in [0, 1] canvas units ``[N]``; scale ``[N]`` (1 = ``BASE_RADIUS``);
        orientation ``[N]`` radians (counter-clockwise on screen).

    Returns:
        ``(u, v)`` float32 ``[N, size, size]``: coordinates in units of the sprite radius, ``v``
        pointing up on screen.
    """
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    radius = (BASE_RADIUS * scale).astype(np.float32)[:, None, None]
    dx = (grid[None, None, :] - cx.astype(np.float32)[:, None, None]) / radius
    dy = (cy.astype(np.float32)[:, None, None] - grid[None, :, None]) / radius  # screen y points down
    c = np.cos(orientation).astype(np.float32)[:, None, None]
    s = np.sin(orientation).astype(np.float32)[:, None, None]
    return c * dx + s * dy, -s * dx + c * dy


def inside(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """bool ``[N, H, W]``: pixels inside sprite ``n`` of shape code ``shape[n]`` (0 square,
    1 ellipse, 2 heart), given local coordinates from :func:`sprite_local_coords`."""
    shape = shape[:, None, None]
    square = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    ellipse = u * u + (v / 0.5) ** 2 <= 1.0
    # the classic implicit heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, shifted and shrunk to fit
    # inside the unit disc (its extents are |x| <= 1.14, -1 <= y <= 1.25)
    hx, hy = u * 1.15, v * 1.15 + 0.12
    q = hx * hx + hy * hy - 1.0
    heart = q * q * q - hx * hx * hy * hy * hy <= 0.0
    return np.where(shape == 0, square, np.where(shape == 1, ellipse, heart))


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] ``[...]`` -> RGB float ``[..., 3]`` in [0, 1]."""
    i = np.floor(h * 6.0) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r = np.choose(i.astype(int), [v, q, p, p, t, v])
    g = np.choose(i.astype(int), [t, v, v, q, p, p])
    b = np.choose(i.astype(int), [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (round half up)."""
    return np.clip(np.floor(image * 255.0 + 0.5), 0, 255).astype(np.uint8)
