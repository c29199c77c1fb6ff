"""Tetrominoes generator: format, no overlap, pixel counts, texture, statistics, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from emorl_eval.data import generate
from emorl_eval.data.tetrominoes import BLOCK_TEMPLATE, COLORS, S_Z_CODES, SHAPES


@pytest.fixture(scope="module")
def scenes():
    return generate("tetrominoes", 3000, seed=123)


def test_shapes_and_dtypes(scenes):
    assert scenes.images.shape == (3000, 35, 35, 3) and scenes.images.dtype == np.uint8
    assert scenes.masks.shape == (3000, 35, 35) and scenes.masks.dtype == np.uint8
    assert scenes.visibility.shape == (3000, 3) and scenes.visibility.all()
    assert scenes.factors.shape == (3000, 3, 4) and scenes.factors.dtype == np.float32
    assert [s.name for s in scenes.factor_specs] == ["x", "y", "shape", "color"]
    assert [s.kind for s in scenes.factor_specs] == ["continuous", "continuous", "discrete", "discrete"]
    assert [s.num_classes for s in scenes.factor_specs][2:] == [19, 6]


def test_exact_pixel_counts_mean_no_overlap(scenes):
    # every object keeps all its 100 px (nothing painted over it) and the background has 925 px
    counts = np.stack([(scenes.masks == k).sum(axis=(1, 2)) for k in range(4)], axis=1)
    assert (counts[:, 0] == 925).all()
    assert (counts[:, 1:] == 100).all()


def test_background_is_black_and_objects_are_not(scenes):
    bg = scenes.masks == 0
    assert (scenes.images[bg] == 0).all()
    assert (scenes.images[~bg].max(axis=-1) > 0).all()


def test_object_pixels_are_template_times_binary_colour(scenes):
    values = np.sort(np.tile(BLOCK_TEMPLATE.ravel(), 4))
    for n in range(20):
        for k in range(1, 4):
            px = scenes.images[n][scenes.masks[n] == k]  # [100, 3]
            rgb = COLORS[int(scenes.factors[n, k - 1, 3])]
            assert (px[:, rgb == 0] == 0).all()
            for c in np.flatnonzero(rgb):
                np.testing.assert_array_equal(np.sort(px[:, c]), values)


def test_shape_factor_matches_mask_geometry(scenes):
    for n in range(30):
        for k in range(1, 4):
            ys, xs = np.nonzero(scenes.masks[n] == k)
            cells = {((y - ys.min()) // 5, (x - xs.min()) // 5) for y, x in zip(ys, xs)}
            assert cells == set(SHAPES[int(scenes.factors[n, k - 1, 2])])
            cx = (xs.min() + xs.max() + 1) / 2 / 35
            cy = (ys.min() + ys.max() + 1) / 2 / 35
            assert scenes.factors[n, k - 1, 0] == pytest.approx(cx, abs=1e-6)
            assert scenes.factors[n, k - 1, 1] == pytest.approx(cy, abs=1e-6)


def test_texture_matches_real_published_samples(shared_dir):
    # 10 real test images from the EfficientMORL repository: each object's active-channel
    # values are exactly 4 copies of our block template
    real = np.load(shared_dir / "data" / "emorl_tetrominoes_published_outputs.npz")
    images = np.round(real["image"] * 255).astype(np.int64)  # [10, 35, 35, 3]
    masks = real["true_mask"][:, :, 0] > 0  # [10, 4, 35, 35]
    values = np.sort(np.tile(BLOCK_TEMPLATE.ravel().astype(np.int64), 4))
    checked = 0
    for n in range(images.shape[0]):
        for k in range(1, masks.shape[1]):
            px = images[n][masks[n, k]]
            assert px.shape[0] == 100
            active = px.max(axis=0) > 0
            assert 1 <= active.sum() <= 2
            for c in np.flatnonzero(active):
                np.testing.assert_array_equal(np.sort(px[:, c]), values)
            checked += 1
        assert (images[n][masks[n, 0]] == 0).all()
    assert checked == 30


def test_statistics_match_real_dataset(scenes):
    # datasets.md section 3.1: real P(no S/Z in an image) = 0.5033, P(no green S/Z) = 0.9009.
    # With N=3000 the standard errors are 0.0091 and 0.0055; allow 4 of them.
    n = len(scenes)
    shape = scenes.factors[..., 2].astype(int)
    color = scenes.factors[..., 3].astype(int)
    is_sz = np.isin(shape, S_Z_CODES)
    p_no_sz = 1 - is_sz.any(axis=1).mean()
    p_no_green_sz = 1 - (is_sz & (color == 1)).any(axis=1).mean()
    assert abs(p_no_sz - 0.5033) < 4 * np.sqrt(0.25 / n)
    assert abs(p_no_green_sz - 0.9009) < 4 * np.sqrt(0.9 * 0.1 / n)


def test_shapes_and_colours_cover_all_classes_roughly_uniformly(scenes):
    shape_counts = np.bincount(scenes.factors[..., 2].astype(int).ravel(), minlength=19)
    color_counts = np.bincount(scenes.factors[..., 3].astype(int).ravel(), minlength=6)
    # colour is independent of placement, so it is uniform: chi-square with 5 dof, p ~ 1e-4 cut
    expected = color_counts.sum() / 6
    assert ((color_counts - expected) ** 2 / expected).sum() < 25.7
    # shapes: every class present; rejection favours small footprints only mildly
    assert (shape_counts > 0.5 * shape_counts.mean()).all()


def test_deterministic_per_seed():
    a = generate("tetrominoes", 300, seed=7)
    b = generate("tetrominoes", 300, seed=7)
    c = generate("tetrominoes", 300, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.factors, b.factors)
    assert not np.array_equal(a.images, c.images)


def test_shape_option_restricts_orientations():
    s = generate("tetrominoes", 200, seed=0, shapes=[2])
    assert (s.factors[..., 2] == 2).all()
