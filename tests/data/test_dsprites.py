"""Multi-dSprites (colored_on_grayscale) and textured dSprites generators."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv

from emorl_eval.data import generate


@pytest.fixture(scope="module")
def md():
    return generate("multi_dsprites", 2000, seed=5)


def test_multi_dsprites_images_agree_with_masks_and_colours(md):
    # background pixels are the image's grey level; each visible sprite's pixels are exactly its
    # colour factor (sprites are saturated, S >= 0.5, so never grey)
    for n in range(50):
        img, lab = md.images[n].astype(int), md.masks[n]
        bg = img[lab == 0]
        assert (bg == bg[0]).all() and bg[0, 0] == bg[0, 1] == bg[0, 2]
        for k in np.flatnonzero(md.visibility[n]):
            px = img[lab == k + 1]
            expected = np.floor(md.factors[n, k, 5:8] * 255 + 0.5).astype(int)
            assert (px == expected).all()
            assert (px.max(axis=1) - px.min(axis=1) > 0).all()


def test_multi_dsprites_object_count_uniform_2_to_5(md):
    present = md.factors[..., 2] > 0  # scale >= 0.5 for every drawn sprite
    counts = np.bincount(present.sum(axis=1), minlength=6)[2:6]
    assert counts.sum() == len(md)
    expected = len(md) / 4
    assert ((counts - expected) ** 2 / expected).sum() < 21.1  # chi2(3 dof), p = 1e-4
    # occlusion happens but rarely hides a whole sprite
    hidden = (present & ~md.visibility).sum() / present.sum()
    assert 0 < hidden < 0.05


def test_multi_dsprites_no_green_square_statistic(md):
    # datasets.md 3.2: real data has 817,352 of 1M images without a visible green square
    # (hue in [0.25, 0.42], S >= 0.5, V >= 0.5). SE at N=2000 is 0.0086; allow 4 SE.
    hsv = rgb_to_hsv(np.clip(md.factors[..., 5:8], 0, 1))
    green_square = ((hsv[..., 0] >= 0.25) & (hsv[..., 0] <= 0.42) & (hsv[..., 1] >= 0.5)
                    & (hsv[..., 2] >= 0.5) & (md.factors[..., 4] == 0) & md.visibility)
    p = 1 - green_square.any(axis=1).mean()
    assert abs(p - 0.8174) < 4 * np.sqrt(0.8174 * 0.1826 / len(md))


def test_multi_dsprites_factor_ranges(md):
    f = md.factors[md.factors[..., 2] > 0]
    assert f[:, 0].min() >= 0 and f[:, 0].max() <= 1 and f[:, 1].min() >= 0 and f[:, 1].max() <= 1
    assert f[:, 2].min() >= 0.5 and f[:, 2].max() <= 1
    assert f[:, 3].min() >= 0 and f[:, 3].max() < 2 * np.pi
    assert set(np.unique(f[:, 4])) == {0, 1, 2}
    hsv = rgb_to_hsv(np.clip(f[:, 5:8], 0, 1))
    assert hsv[:, 1].min() >= 0.5 - 1e-6 and hsv[:, 2].min() >= 0.5 - 1e-6


def test_sprite_sizes_grow_with_scale():
    s = generate("multi_dsprites", 400, seed=1, min_objects=1, max_objects=1)
    area = (s.masks == 1).sum(axis=(1, 2))
    scale, shape = s.factors[:, 0, 2], s.factors[:, 0, 4]
    for code in (0, 1, 2):
        sel = shape == code
        assert np.corrcoef(scale[sel] ** 2, area[sel])[0, 1] > 0.95


def test_textured_dsprites_colour_alone_does_not_segment():
    s = generate("textured_dsprites", 40, seed=2)
    for n in range(40):
        img, lab = s.images[n].reshape(-1, 3), s.masks[n].ravel()
        bg_colours = np.unique(img[lab == 0], axis=0)
        assert len(bg_colours) == 2  # the uniform two-tone background texture
        for k in np.flatnonzero(s.visibility[n]):
            px = img[lab == k + 1]
            if len(px) >= 40:  # a sprite showing enough of itself shows both pattern colours
                assert len(np.unique(px, axis=0)) == 2
    assert set(np.unique(s.factors[..., 5][s.visibility])) == {0, 1, 2}
