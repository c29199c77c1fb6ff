"""The hierarchical prior network of EfficientMORL (appendix F.1, "Hierarchical prior network")."""

from __future__ import annotations

from torch import Tensor, nn

from emorl_eval.models.components.init import xavier_init

PRIOR_VARIANTS: tuple[str, ...] = ("reversed_plus_plus", "reversed", "bottom_up")


class HierarchicalPrior(nn.Module):
    """``z [..., D] -> (mu, s)``: Linear(D, 128) + ELU, then Linear(128, D) for the mean and for
    the softplus parameter. Shared by the L-1 data-dependent prior layers, applied per slot.

    Args:
        latent_dim: D.
        hidden: 128.
    """

    def __init__(self, latent_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.z_linear = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ELU(inplace=True))
        self.z_mu = nn.Linear(hidden, latent_dim)
        self.z_softplus = nn.Linear(hidden, latent_dim)
        xavier_init(self)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z [..., D] -> (mu [..., D], softplus parameter [..., D])``."""
        h = self.z_linear(z)
        return self.z_mu(h), self.z_softplus(h)
