"""Slot symmetry of the comparison models, measured directly on their probes.

IODINE (and Slot Attention) claim slot-permutation equivariance: permuting every slot-axis input
of a probe permutes its slot-axis outputs and leaves its invariant outputs unchanged. GENESIS and
GENESIS-S are ordered: their probes are exposed with ``claimed=False`` and must show a clear
violation (this is what the symmetry report prints for them).
"""

from __future__ import annotations

import pytest
import torch

from emorl_eval import models
from emorl_eval.models.interface import EquivarianceProbe

PERM = torch.tensor([2, 0, 1])  # the tiny presets have K = 3


def _permute(probe: EquivarianceProbe, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v if k in probe.fixed_keys else v[:, PERM] for k, v in inputs.items()}


def _max_deviation(probe: EquivarianceProbe, seed: int = 0) -> float:
    """max |f(P x) - P f(x)| over outputs (invariant outputs: |f(P x) - f(x)|), in float64."""
    inputs = {k: v.double() for k, v in probe.make_inputs(2, torch.Generator().manual_seed(seed)).items()}
    base = probe.fn(inputs)
    permuted = probe.fn(_permute(probe, inputs))
    dev = 0.0
    for key, value in base.items():
        expected = value if key in probe.invariant_keys else value[:, PERM]
        dev = max(dev, float((permuted[key] - expected).abs().max()))
    return dev


def _tiny_double(name: str) -> models.ObjectCentricModel:
    torch.manual_seed(0)
    return models.build(name, preset="tiny").double()


@pytest.mark.parametrize("name", ["iodine", "slot_attention"])
def test_equivariant_models_pass_every_probe(name: str) -> None:
    model = _tiny_double(name)
    probes = model.equivariance_probes()
    assert {p.name for p in probes} >= {"decoder", "inference"}
    for probe in probes:
        assert probe.claimed
        assert _max_deviation(probe) < 1e-9, probe.name


@pytest.mark.parametrize("name", ["genesis", "genesis_s"])
def test_ordered_models_expose_unclaimed_probes_that_violate(name: str) -> None:
    model = _tiny_double(name)
    assert not model.slot_equivariant
    probes = {p.name: p for p in model.equivariance_probes()}
    assert set(probes) == {"inference", "decoder", "prior"}
    for probe in probes.values():
        assert not probe.claimed
        # stick-breaking and the autoregressive posterior/prior depend on the slot order
        assert _max_deviation(probe) > 1e-3, probe.name


def test_slot_attention_is_invariant_to_the_input_order() -> None:
    model = _tiny_double("slot_attention")
    probe = model.input_order_probe()
    inputs = {k: v.double() for k, v in probe.make_inputs(2, torch.Generator().manual_seed(0)).items()}
    perm = torch.randperm(inputs["features"].shape[1], generator=torch.Generator().manual_seed(1))
    base = probe.fn(inputs)["slots"]
    shuffled = probe.fn({**inputs, "features": inputs["features"][:, perm]})["slots"]
    assert float((base - shuffled).abs().max()) < 1e-9
    # ...while the slots do depend on the features (the check is not vacuous)
    other = probe.fn({**inputs, "features": inputs["features"].flip(0)})["slots"]
    assert float((base - other).abs().max()) > 1e-4


def test_genesis_last_component_takes_the_remaining_scope() -> None:
    from emorl_eval.models.genesis import stick_breaking

    logits = torch.randn(2, 4, 1, 5, 5, dtype=torch.float64)
    masks = stick_breaking(logits).exp()
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 1, 5, 5, dtype=torch.float64))
    a = torch.sigmoid(logits)
    torch.testing.assert_close(masks[:, 0], a[:, 0])
    torch.testing.assert_close(masks[:, 1], (1 - a[:, 0]) * a[:, 1])
    torch.testing.assert_close(masks[:, 3], (1 - a[:, 0]) * (1 - a[:, 1]) * (1 - a[:, 2]))
