"""GECO (Rezende & Viola 2018) as used by EfficientMORL (appendix F.2).

The state lives in two buffers named as in official checkpoints: ``geco_C_ema`` (the moving
average of ``C - NLL``) and ``geco_beta`` (the Lagrange parameter zeta, used as
``softplus(zeta)``, kept >= 0.55 so that softplus(zeta) >= 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GECO(nn.Module):
    """Constrained-optimisation weighting of the reconstruction term.

    Args:
        target: C, the reconstruction target in nats per image (negative: a log-likelihood).
        alpha: EMA decay of ``C - NLL`` (0.99).
        step_size: Lagrange step (1e-6): ``zeta <- max(zeta - step_size * C_ema, beta_min)``.
        warm_start: training steps of plain ELBO before GECO takes over (1000).
        beta_init, beta_min: initial and minimum zeta (0.55).
    """

    def __init__(self, target: float, alpha: float = 0.99, step_size: float = 1e-6,
                 warm_start: int = 1000, beta_init: float = 0.55, beta_min: float = 0.55) -> None:
        super().__init__()
        self.target = float(target)
        self.alpha = float(alpha)
        self.step_size = float(step_size)
        self.warm_start = int(warm_start)
        self.beta_min = float(beta_min)
        self.register_buffer("geco_C_ema", torch.tensor(0.0))
        self.register_buffer("geco_beta", torch.tensor(float(beta_init)))

    def active(self, step: int | None) -> bool:
        """Whether the GECO objective replaces the ELBO at training ``step`` (None = trained)."""
        return step is None or step >= self.warm_start

    def constraint(self, nll: Tensor) -> Tensor:
        """``softplus(zeta) * (C - NLL)`` with the EMA trick: its value uses ``C_ema``, its gradient
        that of the batch's ``C - NLL``. ``nll`` is the batch-mean NLL (scalar)."""
        c_t = self.target - nll
        return F.softplus(self.geco_beta).detach() * (c_t + (self.geco_C_ema - c_t).detach())

    def loss(self, nll: Tensor, kl: Tensor, kl_beta: float = 1.0) -> Tensor:
        """GECO objective ``kl_beta * KL - softplus(zeta) (C - NLL)`` from batch means."""
        return kl_beta * kl - self.constraint(nll)

    @torch.no_grad()
    def update(self, nll: Tensor | float, step: int) -> None:
        """After the optimiser step of training ``step``: initialise the EMA at the warm-start
        step, afterwards update the EMA and take a Lagrange step (appendix F.2).

        A model whose GECO never ran (trained without GECO, then continued with it past its warm
        start by ``train --init-from``) still holds the EMA's zero: it is initialised at its first
        update instead, as at the warm start (an EMA that has run is never exactly 0.0)."""
        nll_value = torch.as_tensor(nll, dtype=self.geco_C_ema.dtype, device=self.geco_C_ema.device).detach()
        never_ran = step > self.warm_start and bool(self.geco_C_ema == 0)
        if step == self.warm_start or never_ran:
            self.geco_C_ema.copy_(self.target - nll_value)
        elif step > self.warm_start:
            self.geco_C_ema.copy_(self.geco_C_ema * self.alpha + (self.target - nll_value) * (1.0 - self.alpha))
            new_beta = self.geco_beta - self.step_size * self.geco_C_ema
            self.geco_beta.copy_(torch.clamp(new_beta, min=self.beta_min))
