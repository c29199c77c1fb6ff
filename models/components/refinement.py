"""EfficientMORL's refinement network (appendix F.1, "Refinement")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emorl_eval.models.components.init import xavier_init


class RefinementNetwork(nn.Module):
    """``[lambda, LN(d mu), LN(d s)] (4D) -> MLP(4D, 128, D) -> GRU(D) -> (delta mu, delta s)``.

    The gradients pass a LayerNorm without affine parameters and are treated as constants
    (detached), as in the reference. Names follow the reference's ``refinenet``.

    Args:
        latent_dim: D.
        hidden: 128.
    """

    def __init__(self, latent_dim: int, hidden: int = 128) -> None:
        super().__init__()
        d = latent_dim
        self.latent_dim = d
        self.recurrence = nn.GRU(d, d)
        self.encoding = nn.Sequential(nn.Linear(4 * d, hidden), nn.ELU(inplace=True), nn.Linear(hidden, d))
        self.loc = nn.Linear(d, d)
        self.softplus = nn.Linear(d, d)
        xavier_init(self.loc)
        xavier_init(self.softplus)
        xavier_init(self.encoding)

    def normalize_gradients(self, grad: Tensor) -> Tensor:
        """``d lambda [..., 2D] -> [LN(d mu), LN(d s)]`` detached (no affine, eps 1e-5)."""
        d_mu, d_s = grad.split(self.latent_dim, dim=-1)
        d = self.latent_dim
        return torch.cat([F.layer_norm(d_mu, (d,)), F.layer_norm(d_s, (d,))], dim=-1).detach()

    def forward(self, lam: Tensor, grad_features: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """One refinement update, per slot.

        Args:
            lam: posterior parameters ``[..., 2D]`` = [mu, s].
            grad_features: :meth:`normalize_gradients` of the loss gradient, ``[..., 2D]``.
            hidden: GRU state ``[..., D]`` (zeros before the first step).
        Returns:
            ``delta [..., 2D]`` (added to ``lam``) and the new hidden state ``[..., D]``.
        """
        shape = lam.shape[:-1]
        x = self.encoding(torch.cat([lam, grad_features], dim=-1)).reshape(1, -1, self.latent_dim)
        out, h = self.recurrence(x, hidden.reshape(1, -1, self.latent_dim).contiguous())
        out = out.reshape(*shape, self.latent_dim)
        delta = torch.cat([self.loc(out), self.softplus(out)], dim=-1)
        return delta, h.reshape(*shape, self.latent_dim)
