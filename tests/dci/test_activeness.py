"""Activeness: variance of the codes across the data set against a threshold."""

from __future__ import annotations

import numpy as np
import pytest

from emorl_eval.dci import ACTIVE_THRESHOLD, active_dims, latent_variance, select_active
from emorl_eval.errors import DataError


def test_variance_matches_numpy_and_threshold_selects_used_dims() -> None:
    rng = np.random.default_rng(0)
    codes = np.stack([rng.normal(0, 1.0, 500), rng.normal(0, 0.01, 500), np.full(500, 3.0),
                      rng.normal(2, 0.5, 500)], 1)
    np.testing.assert_allclose(latent_variance(codes), codes.var(0))
    assert ACTIVE_THRESHOLD == 0.01
    np.testing.assert_array_equal(active_dims(codes), [True, False, False, True])
    kept, idx = select_active(codes)
    np.testing.assert_array_equal(idx, [0, 3])
    np.testing.assert_array_equal(kept, codes[:, [0, 3]])
    np.testing.assert_array_equal(active_dims(codes, threshold=1e-6), [True, True, False, True])


def test_no_active_dim_and_too_few_codes_are_user_errors() -> None:
    with pytest.raises(DataError, match="no latent dimension"):
        select_active(np.zeros((10, 3)))
    with pytest.raises(DataError, match="codes must be"):
        active_dims(np.zeros((1, 3)))
