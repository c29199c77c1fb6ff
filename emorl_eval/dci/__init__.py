"""DCI (disentanglement, completeness, informativeness) on IoU-Hungarian-matched slots.

``scores.dci_scores`` is the library entry point; ``backend`` imports disentanglement-lib
without TensorFlow; ``activeness`` selects the latent dimensions in use; ``matching`` and
``pairs`` build the (factors, slot code) pairs; ``pipeline.run_dci`` and ``report`` are what
``emorl-eval dci`` runs and writes.
"""

from emorl_eval.dci.activeness import ACTIVE_THRESHOLD, active_dims, latent_variance, select_active
from emorl_eval.dci.pairs import MatchedPairs, extract_matched_pairs
from emorl_eval.dci.scores import PROTOCOLS, dci_scores

__all__ = [
    "ACTIVE_THRESHOLD",
    "MatchedPairs",
    "extract_matched_pairs",
    "PROTOCOLS",
    "active_dims",
    "dci_scores",
    "latent_variance",
    "select_active",
]
