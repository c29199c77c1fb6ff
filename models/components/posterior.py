"""One bottom-up stochastic layer of EfficientMORL's posterior (appendix F.1, "lth layer")."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emorl_eval.models.components.attention import SetAttention
from emorl_eval.models.components.gru import DualGRU, GRUStep
from emorl_eval.models.components.init import xavier_init


class PosteriorLayer(nn.Module):
    """Set attention on the previous sample, then a (Dual)GRU on the Gaussian parameters and two
    residual MLPs. The same weights serve all L layers.

    ``updates = attention(z_prev)``; ``[mu, s] = GRU([updates, updates], [mu_prev, s_prev])``
    (plain GRU: ``GRU(Linear(D, 2D)(updates), [mu_prev, s_prev])``);
    ``mu += MLP_mu(LN(mu))``; ``s += MLP_s(LN(s))``.

    Args:
        latent_dim: D.
        input_dim: encoder feature size (64).
        dual_gru: DualGRU (True) or a standard GRU of hidden size 2D (the Table 2 ablation).
    """

    def __init__(self, latent_dim: int, input_dim: int = 64, dual_gru: bool = True) -> None:
        super().__init__()
        d = latent_dim
        self.latent_dim = d
        self.dual_gru = dual_gru
        self.attention = SetAttention(input_dim, d)
        if dual_gru:
            self.gru: nn.Module = DualGRU(d, d)
        else:
            self.gru = GRUStep(2 * d, 2 * d)
            self.project_update = nn.Linear(d, 2 * d)
            xavier_init(self.project_update)
        self.norm_mu = nn.LayerNorm(d)
        self.norm_softplus = nn.LayerNorm(d)
        self.mlp_mu = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(inplace=True), nn.Linear(2 * d, d))
        self.mlp_softplus = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(inplace=True), nn.Linear(2 * d, d))
        xavier_init(self.mlp_mu)
        xavier_init(self.mlp_softplus)

    def forward(self, z_prev: Tensor, mu_prev: Tensor, s_prev: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One layer.

        Args:
            z_prev: previous sample ``[B, K, D]``.
            mu_prev, s_prev: previous mean and softplus parameter ``[B, K, D]``.
            k, v: keys and values ``[B, N, D]``.
        Returns:
            ``mu [B, K, D]``, ``s [B, K, D]``, attention ``[B, K, N]`` (normalised over K).
        """
        b, n_slots, d = z_prev.shape
        updates, attn = self.attention.attend(z_prev, k, v)
        hidden = torch.cat([mu_prev, s_prev], dim=-1).reshape(b * n_slots, 2 * d)
        if self.dual_gru:
            x = torch.cat([updates, updates], dim=-1).reshape(b * n_slots, 2 * d)
        else:
            x = self.project_update(updates).reshape(b * n_slots, 2 * d)
        hidden = self.gru(x, hidden).reshape(b, n_slots, 2 * d)
        mu, s = hidden.split(d, dim=-1)
        mu = mu + self.mlp_mu(self.norm_mu(mu))
        s = s + self.mlp_softplus(self.norm_softplus(s))
        return mu, s, attn
