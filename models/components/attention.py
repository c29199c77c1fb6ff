"""Scaled dot-product set attention (Slot Attention, Algorithm 1 lines 8-11)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emorl_eval.models.components.init import xavier_init


class SetAttention(nn.Module):
    """Slots compete for inputs: softmax over the K slots, then a weighted mean over the N inputs.

    Keys/values are computed once per image (:meth:`keys_values`) and reused by every
    iteration/layer; :meth:`attend` runs one round.

    Args:
        input_dim: feature size of the inputs (64).
        slot_dim: D, size of slots, keys, queries and values.
        eps: added to the attention before renormalising over inputs (1e-8).
    """

    def __init__(self, input_dim: int, slot_dim: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.slot_dim = slot_dim
        self.scale = slot_dim ** -0.5
        self.eps = eps
        self.norm_slots = nn.LayerNorm(slot_dim)
        self.to_q = nn.Linear(slot_dim, slot_dim, bias=False)
        self.to_k = nn.Linear(input_dim, slot_dim, bias=False)
        self.to_v = nn.Linear(input_dim, slot_dim, bias=False)
        xavier_init(self)

    def keys_values(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``inputs [B, N, input_dim] -> (k, v)``, each ``[B, N, D]``."""
        return self.to_k(inputs), self.to_v(inputs)

    def attend(self, slots: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """One round of attention.

        Args:
            slots: ``[B, K, D]`` (normalised inside by ``norm_slots``).
            k, v: ``[B, N, D]``.
        Returns:
            updates ``[B, K, D]`` and the attention ``[B, K, N]`` normalised over K (plus eps),
            i.e. before the renormalisation over N (what figures show).
        """
        q = self.to_q(self.norm_slots(slots)) * self.scale
        logits = torch.bmm(q, k.transpose(1, 2))  # [B, K, N]
        attn = logits.softmax(dim=1) + self.eps
        weights = attn / attn.sum(dim=-1, keepdim=True)
        return torch.bmm(weights, v), attn
