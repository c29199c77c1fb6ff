"""Building blocks shared by the models of emorl-eval (EfficientMORL, Slot Attention, IODINE,
GENESIS): image encoder, set attention, (Dual)GRU, Gaussian helpers, spatial broadcast decoders,
image likelihoods, hierarchical prior, refinement network, GECO."""

from emorl_eval.models.components.attention import SetAttention
from emorl_eval.models.components.decoders import DECODER_KINDS, SpatialBroadcastDecoder
from emorl_eval.models.components.encoder import ImageEncoder
from emorl_eval.models.components.gaussian import (
    kl_normal_normal,
    kl_standard_normal,
    reparameterize,
    softplus_to_std,
    standard_normal,
)
from emorl_eval.models.components.geco import GECO
from emorl_eval.models.components.gru import DualGRU, GRUStep
from emorl_eval.models.components.init import xavier_init
from emorl_eval.models.components.likelihoods import LIKELIHOODS, gaussian_nll, gmm_nll, image_nll
from emorl_eval.models.components.position import position_grid
from emorl_eval.models.components.posterior import PosteriorLayer
from emorl_eval.models.components.prior import PRIOR_VARIANTS, HierarchicalPrior
from emorl_eval.models.components.refinement import RefinementNetwork

__all__ = [
    "DECODER_KINDS", "LIKELIHOODS", "PRIOR_VARIANTS", "DualGRU", "GECO", "GRUStep",
    "HierarchicalPrior", "ImageEncoder", "PosteriorLayer", "RefinementNetwork", "SetAttention",
    "SpatialBroadcastDecoder", "gaussian_nll", "gmm_nll", "image_nll", "kl_normal_normal",
    "kl_standard_normal", "position_grid", "reparameterize", "softplus_to_std", "standard_normal",
    "xavier_init",
]
