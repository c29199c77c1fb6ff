"""Which latent dimensions are in use ("active").

A dimension ``d`` is active when the variance, across the data set, of its posterior mean is
above a threshold: ``A_d = Var_x(E_q[z_d | x]) > 0.01``, the "active units" statistic of Burda,
Grosse & Salakhutdinov (2016, *Importance Weighted Autoencoders*, section 5.2), whose 0.01 is our
default. For a VAE with a standard-normal prior (EfficientMORL), an unused dimension's posterior
collapses to the prior, so its mean is ~0 for every object and its variance ~0; a used one
varies on the order of 1. The statistic is computed over the codes given, which for DCI are the
codes of the matched (object, slot) pairs (background slots excluded). For models whose slots
are not posterior means (Slot Attention) the absolute threshold is a heuristic: the slot scale
is arbitrary, so read the reported variances too.

(The EfficientMORL authors' ``activeness`` script instead perturbs each dimension and measures
the variance of the decoded pixels; the notes of this project ask for the cheaper statistic.)
"""

from __future__ import annotations

import numpy as np

from emorl_eval.errors import DataError

ACTIVE_THRESHOLD = 0.01


def latent_variance(codes: np.ndarray) -> np.ndarray:
    """Per-dimension variance of the codes across items, ``[N, D] -> [D]`` (population variance)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise DataError(f"activeness: codes must be [N >= 2, D], got {codes.shape}")
    return codes.var(axis=0)


def active_dims(codes: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Boolean mask ``[D]`` of the dimensions whose variance across ``codes [N, D]`` exceeds
    ``threshold``."""
    return latent_variance(codes) > threshold


def select_active(codes: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Keep the active columns of ``codes [N, D]``.

    Returns:
        ``(codes[:, active] [N, D_active], indices [D_active])`` (indices into the D dims).

    Raises:
        DataError: no dimension is active.
    """
    mask = active_dims(codes, threshold)
    if not mask.any():
        raise DataError(
            f"activeness: no latent dimension has variance > {threshold} across {len(codes)} codes"
        )
    idx = np.flatnonzero(mask)
    return np.asarray(codes)[:, idx], idx
