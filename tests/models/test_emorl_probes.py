"""EfficientMORL's symmetry probes are pure functions and show the claimed symmetries."""

from __future__ import annotations

import torch

from emorl_eval.models.interface import EquivarianceProbe
from tests.models.conftest import scramble, small_model


def _permute(inputs: dict[str, torch.Tensor], probe: EquivarianceProbe, perm: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: (v if k in probe.fixed_keys else v[:, perm]) for k, v in inputs.items()}


def _max_dev(probe: EquivarianceProbe, out: dict, out_p: dict, perm: torch.Tensor) -> float:
    dev = 0.0
    for key, value in out.items():
        expected = value if key in probe.invariant_keys else value[:, perm]
        dev = max(dev, float((out_p[key] - expected).detach().abs().max()))
    return dev


def test_probes_are_pure_and_equivariant() -> None:
    model = scramble(small_model("tetrominoes", num_slots=4, image_size=(8, 8))).double().eval()
    probes = model.equivariance_probes()
    assert {p.name for p in probes} == {"posterior_layer", "prior", "refinement", "inference", "decoder", "loss"}
    perm = torch.tensor([2, 0, 3, 1])
    for probe in probes:
        inputs = probe.make_inputs(2, torch.Generator().manual_seed(0))
        assert all(v.dtype == torch.float64 for v in inputs.values())
        out = probe.fn(inputs)
        again = probe.fn(inputs)
        for key in out:
            assert torch.equal(out[key], again[key]), (probe.name, key)
        dev = _max_dev(probe, out, probe.fn(_permute(inputs, probe, perm)), perm)
        assert dev < 1e-8, (probe.name, dev)


def test_inference_probe_detects_a_broken_symmetry() -> None:
    """Sanity check of the check: permuting only the noise of one layer changes the outputs."""
    model = scramble(small_model("tetrominoes", num_slots=3)).double().eval()
    probe = next(p for p in model.equivariance_probes() if p.name == "inference")
    inputs = probe.make_inputs(1, torch.Generator().manual_seed(0))
    perm = torch.tensor([1, 2, 0])
    broken = dict(inputs)
    broken["noise_layers"] = inputs["noise_layers"][:, perm]  # layer noise permuted, the rest not
    assert _max_dev(probe, probe.fn(inputs), probe.fn(_permute(broken, probe, torch.arange(3))), perm) > 1e-3


def test_input_order_probe_invariant() -> None:
    model = scramble(small_model("tetrominoes")).double().eval()
    probe = model.input_order_probe()
    inputs = probe.make_inputs(2, torch.Generator().manual_seed(0))
    n = inputs["features"].shape[1]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    out = probe.fn(inputs)
    out_p = probe.fn(_permute(inputs, probe, perm))
    for key in probe.invariant_keys:
        torch.testing.assert_close(out_p[key], out[key], rtol=0, atol=1e-10)
