"""CLEVR-like renderer: exact masks (analytic silhouettes, occlusion), colours, sampler statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emorl_eval.data import generate
from emorl_eval.data.clevr_like import CAMERA, COLORS_RGB, LIGHTS, SIZES, camera_rays, render
from emorl_eval.data.raycast import Primitive, intersect_primitive


def obj(x, y, shape=1, size=0, color=1, material=0, rotation=0.0):
    r = SIZES[size] / (math.sqrt(2) if shape == 0 else 1)
    return {"x": x, "y": y, "r": r, "size": size, "shape": shape, "color": color, "material": material,
            "rotation": rotation}


def test_sphere_silhouette_is_exact():
    # independent of the intersection code: a ray hits a sphere iff its distance to the centre < r
    o = obj(0.5, -0.3)
    _, labels = render([o], CAMERA, LIGHTS, 48)
    origins, dirs = camera_rays(CAMERA, 48)
    c = np.array([o["x"], o["y"], o["r"]])
    along = (c - origins) @ np.eye(3)
    proj = np.einsum("ij,ij->i", along, dirs)
    dist = np.linalg.norm(along - proj[:, None] * dirs, axis=1)
    expected = (dist < o["r"]).reshape(48, 48)
    assert expected.sum() > 50
    assert (labels == 1).sum() == expected.sum()
    assert ((labels == 1) != expected).sum() == 0


@pytest.mark.parametrize("shape", [0, 2])
def test_cube_and_cylinder_hits_lie_on_their_surface(shape):
    rng = np.random.default_rng(0)
    prim = Primitive(shape, np.array([0.2, -0.1, 0.5], np.float32), 0.5, angle=0.7)
    origins = np.tile(np.array([[4.0, -3.0, 3.0]], np.float32), (2000, 1))
    target = prim.center + rng.uniform(-0.8, 0.8, (2000, 3)).astype(np.float32)
    dirs = target - origins
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    t, n = intersect_primitive(origins, dirs, prim)
    hit = np.isfinite(t)
    assert 200 < hit.sum() < 2000
    p = origins[hit] + dirs[hit] * t[hit, None] - prim.center
    if shape == 0:  # rotate into the cube frame: max |coordinate| == half side
        ca, sa = math.cos(-0.7), math.sin(-0.7)
        local = np.stack([ca * p[:, 0] - sa * p[:, 1], sa * p[:, 0] + ca * p[:, 1], p[:, 2]], axis=1)
        np.testing.assert_allclose(np.abs(local).max(axis=1), 0.5, atol=1e-4)
    else:  # on the side (radius 0.5) or on a cap (|z| = 0.5)
        radial = np.hypot(p[:, 0], p[:, 1])
        on_side = np.abs(radial - 0.5) < 1e-4
        on_cap = (np.abs(np.abs(p[:, 2]) - 0.5) < 1e-4) & (radial <= 0.5 + 1e-4)
        assert (on_side | on_cap).all()
    np.testing.assert_allclose(np.linalg.norm(n[hit], axis=1), 1, atol=1e-4)
    assert (np.einsum("ij,ij->i", n[hit], dirs[hit]) < 1e-6).all()  # normals face the camera
    # rays that miss the bounding sphere are misses
    far = Primitive(shape, np.array([50, 50, 0.5], np.float32), 0.5)
    assert np.isinf(intersect_primitive(origins, dirs, far)[0]).all()


def test_occlusion_masks_are_subsets_of_solo_silhouettes():
    objects = [obj(0.0, 0.0, shape=0, rotation=30), obj(1.4, -1.4, shape=2, size=1, color=2),
               obj(-1.2, 1.0, shape=1, size=1, color=6, material=1)]
    _, labels = render(objects, CAMERA, LIGHTS, 40)
    union = np.zeros_like(labels, dtype=bool)
    for k, o in enumerate(objects):
        _, solo = render([o], CAMERA, LIGHTS, 40)
        assert ((labels == k + 1) & (solo != 1)).sum() == 0
        union |= solo == 1
    assert ((labels > 0) == union).all()  # background only where no object is


@pytest.fixture(scope="module")
def scenes():
    return generate("clevr_like", 60, seed=3, size=32)


def test_rubber_objects_show_their_colour(scenes):
    # chromaticity of an object's pixels is closest to its palette colour
    chroma = COLORS_RGB / COLORS_RGB.sum(axis=1, keepdims=True)
    good = total = 0
    for n in range(len(scenes)):
        for k in np.flatnonzero(scenes.visibility[n]):
            f = scenes.factors[n, k]
            if f[5] != 0 or f[7] == 0:  # rubber, not gray
                continue
            px = scenes.images[n][scenes.masks[n] == k + 1].astype(np.float64).mean(axis=0)
            c = px / px.sum()
            good += int(np.argmin(((chroma - c) ** 2).sum(axis=1)) == int(f[7]))
            total += 1
    assert total > 30 and good / total > 0.9


def test_visibility_rule_and_factor_consistency(scenes):
    counts = np.stack([(scenes.masks == k + 1).sum(axis=(1, 2)) for k in range(6)], axis=1)
    present = scenes.factors[..., 2] > 0  # z > 0 for every placed object
    assert (counts[present] >= 3).all()  # min_visible_pixels at 32 px
    assert (scenes.visibility == present).all()
    z, size, shape = scenes.factors[..., 2], scenes.factors[..., 4], scenes.factors[..., 6]
    expected = np.where(size == 0, 0.7, 0.35) / np.where(shape == 0, math.sqrt(2), 1)
    np.testing.assert_allclose(z[present], expected[present], rtol=1e-6)
    xy = scenes.factors[..., :2][present]
    assert np.abs(xy).max() <= 3


def test_sampler_statistics():
    s = generate("clevr_like", 160, seed=9, size=16, min_visible_pixels=1)
    present = s.factors[..., 2] > 0
    counts = np.bincount(present.sum(axis=1), minlength=7)[3:7]
    assert counts.sum() == 160
    chi2 = ((counts - 40) ** 2 / 40).sum()
    assert chi2 < 21.1  # chi2(3 dof), p = 1e-4
    f = s.factors[present]
    for col, classes in ((4, 2), (5, 2), (6, 3), (7, 8)):
        c = np.bincount(f[:, col].astype(int), minlength=classes)
        e = c.sum() / classes
        assert ((c - e) ** 2 / e).sum() < {2: 15.1, 3: 18.4, 8: 29.9}[classes]  # p = 1e-4


def test_supersampled_masks_keep_majority_ids():
    s = generate("clevr_like", 2, seed=0, size=24, supersample=2)
    assert s.images.shape == (2, 24, 24, 3)
    for n in range(2):
        assert {int(v) for v in np.unique(s.masks[n])} - {0} == {int(k) + 1 for k in np.flatnonzero(s.visibility[n])}
