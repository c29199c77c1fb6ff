"""A small numpy ray caster for CLEVR-like scenes: spheres, z-rotated cubes, upright cylinders
on a ground plane z = 0. Exact per-ray object ids give exact masks.

All functions take rays ``origins [R, 3]``, ``dirs [R, 3]`` (unit) in float32 and return, per
ray, the hit distance ``t [R]`` (``inf`` on a miss) and the unit normal ``[R, 3]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPS = 1e-4
INF = np.float32(np.inf)


@dataclass
class Primitive:
    """One object: ``kind`` 0 cube, 1 sphere, 2 cylinder; ``center [3]``; ``half`` = half side
    (cube), radius (sphere), radius and half height (cylinder); ``angle`` rotation about z (rad)."""

    kind: int
    center: np.ndarray
    half: float
    angle: float = 0.0


def _sphere(o: np.ndarray, d: np.ndarray, c: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    oc = o - c
    b = np.einsum("ij,ij->i", oc, d)
    cc = np.einsum("ij,ij->i", oc, oc) - r * r
    disc = b * b - cc
    hit = disc >= 0
    sq = np.sqrt(np.where(hit, disc, 0))
    t0, t1 = -b - sq, -b + sq
    t = np.where(t0 > EPS, t0, np.where(t1 > EPS, t1, INF))
    t = np.where(hit, t, INF)
    p = o + d * np.where(np.isfinite(t), t, 0)[:, None]
    return t, (p - c) / r


def _rotate_z(v: np.ndarray, angle: float) -> np.ndarray:
    ca, sa = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return np.stack([ca * v[:, 0] - sa * v[:, 1], sa * v[:, 0] + ca * v[:, 1], v[:, 2]], axis=1)


def _cube(o: np.ndarray, d: np.ndarray, c: np.ndarray, h: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    lo = _rotate_z(o - c, -angle)
    ld = _rotate_z(d, -angle)
    ld = np.where(np.abs(ld) < 1e-9, np.float32(1e-9), ld)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-h - lo) / ld
        t2 = (h - lo) / ld
    tnear = np.minimum(t1, t2)
    tfar = np.maximum(t1, t2)
    t_enter = tnear.max(axis=1)
    t_exit = tfar.min(axis=1)
    hit = (t_exit >= t_enter) & (t_exit > EPS)
    inside = t_enter <= EPS
    t = np.where(hit, np.where(inside, t_exit, t_enter), INF)
    # normal: the axis whose slab was entered last (or left first, from inside)
    axis = np.where(inside, tfar.argmin(axis=1), tnear.argmax(axis=1))
    n = np.zeros_like(lo)
    rows = np.arange(lo.shape[0])
    sign = -np.sign(ld[rows, axis])
    n[rows, axis] = np.where(inside, -sign, sign)
    return t, _rotate_z(n, angle)


def _cylinder(o: np.ndarray, d: np.ndarray, c: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    lo = o - c
    h = r  # CLEVR cylinders are as tall as they are wide
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = lo[:, 0] * d[:, 0] + lo[:, 1] * d[:, 1]
    cc = lo[:, 0] ** 2 + lo[:, 1] ** 2 - r * r
    disc = b * b - a * cc
    ok = (disc >= 0) & (a > 1e-12)
    sq = np.sqrt(np.where(ok, disc, 0))
    safe_a = np.where(a > 1e-12, a, 1)
    best = np.full(lo.shape[0], INF, dtype=np.float32)
    normal = np.zeros_like(lo)
    for ts in ((-b - sq) / safe_a, (-b + sq) / safe_a):
        z = lo[:, 2] + ts * d[:, 2]
        good = ok & (ts > EPS) & (np.abs(z) <= h) & (ts < best)
        best = np.where(good, ts, best)
        side = lo + ts[:, None] * d
        side[:, 2] = 0
        normal = np.where(good[:, None], side / r, normal)
    dz = np.where(np.abs(d[:, 2]) < 1e-9, np.float32(1e-9), d[:, 2])
    for zc in (h, -h):
        tc = (zc - lo[:, 2]) / dz
        px, py = lo[:, 0] + tc * d[:, 0], lo[:, 1] + tc * d[:, 1]
        good = (tc > EPS) & (px * px + py * py <= r * r) & (tc < best)
        best = np.where(good, tc, best)
        normal = np.where(good[:, None], np.array([0, 0, np.sign(zc)], dtype=np.float32), normal)
    return best, normal


def _bounding_radius(prim: Primitive) -> float:
    return prim.half * (math.sqrt(3.0) if prim.kind == 0 else math.sqrt(2.0) if prim.kind == 2 else 1.0) * 1.001


def may_hit(o: np.ndarray, d: np.ndarray, prim: Primitive) -> np.ndarray:
    """bool ``[R]``: the ray meets the primitive's bounding sphere ahead of its origin."""
    oc = o - prim.center
    b = np.einsum("ij,ij->i", oc, d)
    cc = np.einsum("ij,ij->i", oc, oc)
    r = _bounding_radius(prim)
    disc = b * b - cc + r * r
    return (disc >= 0) & ((cc <= r * r) | (b < 0))


def intersect_primitive(o: np.ndarray, d: np.ndarray, prim: Primitive) -> tuple[np.ndarray, np.ndarray]:
    """Distance ``[R]`` and normal ``[R, 3]`` of the rays' first hit with ``prim`` (the exact
    test runs only on rays that meet its bounding sphere)."""
    cand = may_hit(o, d, prim)
    t = np.full(o.shape[0], INF, dtype=np.float32)
    n = np.zeros_like(o)
    if cand.any():
        t[cand], n[cand] = _intersect_exact(o[cand], d[cand], prim)
    return t, n


def _intersect_exact(o: np.ndarray, d: np.ndarray, prim: Primitive) -> tuple[np.ndarray, np.ndarray]:
    if prim.kind == 0:
        return _cube(o, d, prim.center, prim.half, prim.angle)
    if prim.kind == 1:
        return _sphere(o, d, prim.center, prim.half)
    return _cylinder(o, d, prim.center, prim.half)


def intersect_scene(o: np.ndarray, d: np.ndarray, prims: list[Primitive]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First hit among ``prims`` and the ground plane ``z = 0``.

    Returns:
        ``t [R]``, ``ids [R]`` int (-1 = ground, -2 = nothing, ``j`` = ``prims[j]``), ``normals [R, 3]``.
    """
    n = o.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        tg = np.where(d[:, 2] < -1e-9, -o[:, 2] / d[:, 2], INF)
    tg = np.where(tg > EPS, tg, INF)
    t = tg.astype(np.float32)
    ids = np.where(np.isfinite(t), -1, -2)
    normals = np.zeros((n, 3), dtype=np.float32)
    normals[:, 2] = 1
    for j, prim in enumerate(prims):
        tj, nj = intersect_primitive(o, d, prim)
        closer = tj < t
        t = np.where(closer, tj, t)
        ids = np.where(closer, j, ids)
        normals = np.where(closer[:, None], nj, normals)
    return t, ids, normals


def occluded(o: np.ndarray, d: np.ndarray, max_t: np.ndarray, prims: list[Primitive]) -> np.ndarray:
    """bool ``[R]``: some primitive lies on the ray before distance ``max_t``."""
    blocked = np.zeros(o.shape[0], dtype=bool)
    for prim in prims:
        tj, _ = intersect_primitive(o, d, prim)
        blocked |= tj < max_t
    return blocked
