"""The DualGRU of appendix F.1: two independent GRUs fused into one with block-diagonal weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DualGRU(nn.Module):
    """Two GRUs of hidden size D on the halves of a ``2D`` input and a ``2D`` state.

    Parameter names and layout follow the reference (``weight_ih_1/2``, ``weight_hh_1/2``:
    ``[2D, D]`` holding the reset and update rows; ``weight_in_1/2``, ``weight_hn_1/2``: ``[D, D]``
    for the candidate; ``bias_ih``/``bias_hh`` ``[4D]`` ordered (r1, z1, r2, z2); ``bias_in``,
    ``bias_hn`` ``[2D]``). The block-diagonal products are computed block by block, which is the
    same math as the reference's zero-padded matrices without the multiplications by zero.

    Args:
        input_size: per-GRU input size (D).
        hidden_size: per-GRU hidden size (D).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        d_in, d_h = input_size, hidden_size
        # standard-normal init, as the reference
        self.weight_ih_1 = nn.Parameter(torch.randn(2 * d_h, d_in))
        self.weight_hh_1 = nn.Parameter(torch.randn(2 * d_h, d_h))
        self.weight_ih_2 = nn.Parameter(torch.randn(2 * d_h, d_in))
        self.weight_hh_2 = nn.Parameter(torch.randn(2 * d_h, d_h))
        self.bias_ih = nn.Parameter(torch.randn(4 * d_h))
        self.bias_hh = nn.Parameter(torch.randn(4 * d_h))
        self.weight_in_1 = nn.Parameter(torch.randn(d_h, d_in))
        self.weight_hn_1 = nn.Parameter(torch.randn(d_h, d_h))
        self.weight_in_2 = nn.Parameter(torch.randn(d_h, d_in))
        self.weight_hn_2 = nn.Parameter(torch.randn(d_h, d_h))
        self.bias_in = nn.Parameter(torch.randn(2 * d_h))
        self.bias_hn = nn.Parameter(torch.randn(2 * d_h))

    def forward(self, inputs: Tensor, hidden: Tensor) -> Tensor:
        """One step. ``inputs [..., 2*input_size]``, ``hidden [..., 2*hidden_size]`` -> new hidden."""
        x1, x2 = inputs.split(self.input_size, dim=-1)
        h1, h2 = hidden.split(self.hidden_size, dim=-1)
        gates = torch.cat([x1 @ self.weight_ih_1.t(), x2 @ self.weight_ih_2.t()], dim=-1) + self.bias_ih
        gates = gates + torch.cat([h1 @ self.weight_hh_1.t(), h2 @ self.weight_hh_2.t()], dim=-1) + self.bias_hh
        r1, z1, r2, z2 = torch.sigmoid(gates).chunk(4, dim=-1)
        reset = torch.cat([r1, r2], dim=-1)
        update = torch.cat([z1, z2], dim=-1)
        cand_x = torch.cat([x1 @ self.weight_in_1.t(), x2 @ self.weight_in_2.t()], dim=-1) + self.bias_in
        cand_h = torch.cat([h1 @ self.weight_hn_1.t(), h2 @ self.weight_hn_2.t()], dim=-1) + self.bias_hn
        cand = torch.tanh(cand_x + reset * cand_h)
        return (1.0 - update) * cand + update * hidden


class GRUStep(nn.Module):
    """A single step of a standard ``nn.GRU`` (kept as ``nn.GRU`` so state-dict keys are
    ``weight_ih_l0`` etc., as in the reference's refinement network and plain-GRU ablation).

    Args:
        input_size, hidden_size: as ``nn.GRU``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size)

    def forward(self, inputs: Tensor, hidden: Tensor) -> Tensor:
        """``inputs [M, input_size]``, ``hidden [M, hidden_size]`` -> new hidden ``[M, hidden_size]``."""
        _, h = self.gru(inputs.unsqueeze(0), hidden.unsqueeze(0).contiguous())
        return h.squeeze(0)
