"""Plug-in models that break the interface contract in one known way each, loaded by tests as
``tests.models.broken_plugins:NAME`` specs (what a user would pass to ``--model``).

Each subclasses the tiny Slot Attention and corrupts one thing, so ``check-model`` must fail
exactly the checks named in :data:`EXPECTED_FAILURES` and every other command must refuse it with
one line.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from emorl_eval.models.peer_presets import _SLOT_ATTENTION_PRESETS
from emorl_eval.models.slot_attention import SlotAttention


class _TinySlotAttention(SlotAttention):
    model_name: ClassVar[str] = "tiny_slot_attention_plugin"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"tiny": dict(_SLOT_ATTENTION_PRESETS["tiny"])}
    training_presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"steps": 2, "batch_size": 2, "lr": 1e-3, "warmup_steps": 0, "clip_grad_norm": None,
                 "refinement_curriculum": []}}
    default_preset: ClassVar[str] = "tiny"


class Conforming(_TinySlotAttention):
    """Keeps the contract (the control)."""

    model_name: ClassVar[str] = "conforming"


class WrongLatentShape(_TinySlotAttention):
    """Drops the last latent dimension: latents [B, K, D - 1]."""

    model_name: ClassVar[str] = "wrong_latent_shape"

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False):
        out = super().forward(images, refinement_steps, generator, decode_stages)
        out.latents = out.latents[..., :-1]
        return out


class UnnormalisedMasks(_TinySlotAttention):
    """Masks summing to 2 over the slots (recon computed from them, so only the masks are off)."""

    model_name: ClassVar[str] = "unnormalised_masks"

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False):
        out = super().forward(images, refinement_steps, generator, decode_stages)
        out.masks = out.masks * 2
        out.recon = (out.masks * out.components).sum(1)
        return out


class ReconMismatch(_TinySlotAttention):
    """Returns the input image as recon instead of sum masks x components."""

    model_name: ClassVar[str] = "recon_mismatch"

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False):
        out = super().forward(images, refinement_steps, generator, decode_stages)
        out.recon = images.clone()
        return out


class NaNLoss(_TinySlotAttention):
    """A NaN loss and NLL."""

    model_name: ClassVar[str] = "nan_loss"

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False):
        out = super().forward(images, refinement_steps, generator, decode_stages)
        out.nll = out.nll * float("nan")
        out.loss = out.nll.mean()
        return out


class IgnoresGenerator(_TinySlotAttention):
    """Draws its noise from the global RNG whatever generator it is given."""

    model_name: ClassVar[str] = "ignores_generator"

    def forward(self, images, refinement_steps=None, generator=None, decode_stages=False):
        return super().forward(images, refinement_steps, None, decode_stages)


class StateOutsideTheStateDict(_TinySlotAttention):
    """Adds an offset kept in a plain attribute, drawn at construction: a reloaded copy differs."""

    model_name: ClassVar[str] = "state_outside_state_dict"

    def __init__(self, config) -> None:
        super().__init__(config)
        self.offset = float(torch.rand(()))

    def decode(self, z):
        return super().decode(z + self.offset)


class BadPriorShape(_TinySlotAttention):
    """sample_prior returns one slot too many."""

    model_name: ClassVar[str] = "bad_prior_shape"

    def sample_prior(self, n, generator=None):
        return torch.zeros(n, self.num_slots + 1, self.latent_dim)


class NoProbes(_TinySlotAttention):
    """Conforming, but exposes no symmetry probes (they are optional)."""

    model_name: ClassVar[str] = "no_probes"

    def equivariance_probes(self):
        return []

    def input_order_probe(self):
        return None


class SlotOrderBreach(_TinySlotAttention):
    """Adds a per-slot offset in the decoder: the slot order matters (a symmetry bug)."""

    model_name: ClassVar[str] = "slot_order_breach"

    def decode(self, z):
        return super().decode(z + torch.arange(z.shape[1], dtype=z.dtype, device=z.device)[None, :, None])


def build(**overrides):
    """A factory function: refused with a hint to name the class."""
    return Conforming(Conforming.config_class(**overrides))


class NotAModel:
    """Not an ObjectCentricModel at all."""


#: class name -> the checks check-model must fail on it
EXPECTED_FAILURES: dict[str, set[str]] = {
    "Conforming": set(),
    "WrongLatentShape": {"output shapes"},
    "UnnormalisedMasks": {"mask normalisation"},
    "ReconMismatch": {"recon = sum masks x components"},
    "NaNLoss": {"finite outputs", "loss and gradients"},
    "IgnoresGenerator": {"determinism", "checkpoint round trip"},
    "StateOutsideTheStateDict": {"checkpoint round trip"},
    "BadPriorShape": {"sample_prior"},
    "NoProbes": set(),
    "SlotOrderBreach": set(),  # only its symmetry checks fail (not run in the table-wide test)
}
