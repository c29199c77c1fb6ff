"""Building blocks shared by the models of emorl-eval (EfficientMORL, Slot Attention, IODINE,
GENESIS): image encoder, set attention, (Dual)GRU, Gaussian helpers, spatial broadcast decoders,
image likelihoods, hierarchical prior, refinement network, GECO."""

from models.components.attention import SetAttention
from models.components.decoders import DECODER_KINDS, SpatialBroadcastDecoder
from models.components.encoder import ImageEncoder
from models.components.gaussian import (
    kl_normal_normal,
    kl_standard_normal,
    reparameterize,
    softplus_to_std,
    standard_normal,
)
from models.components.geco import GECO
from models.components.gru import DualGRU, GRUStep
from models.components.init import xavier_init
from models.components.likelihoods import LIKELIHOODS, gaussian_nll, gmm_nll, image_nll
from models.components.position import position_grid
from models.components.posterior import PosteriorLayer
from models.components.prior import PRIOR_VARIANTS, HierarchicalPrior
from models.components.refinement import RefinementNetwork

__all__ = [
    "DECODER_KINDS", "LIKELIHOODS", "PRIOR_VARIANTS", "DualGRU", "GECO", "GRUStep",
    "HierarchicalPrior", "ImageEncoder", "PosteriorLayer", "RefinementNetwork", "SetAttention",
    "SpatialBroadcastDecoder", "gaussian_nll", "gmm_nll", "image_nll", "kl_normal_normal",
    "kl_standard_normal", "position_grid", "reparameterize", "softplus_to_std", "standard_normal",
    "xavier_init",
]
