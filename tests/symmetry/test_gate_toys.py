"""The gate can fail: order-dependent toy models are caught, a symmetric toy passes, for any
hypothesis-drawn permutation and several seeds."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emorl_eval import symmetry as sym
from tests.symmetry.toys import ToyConfig, ToySlotModel

pytestmark = pytest.mark.symmetry

K, H, W = 4, 6, 5
CONFIG = ToyConfig(num_slots=K, image_size=(H, W))
non_identity = lambda n: st.permutations(range(n)).filter(lambda p: list(p) != list(range(n)))


def _model(breach=None):
    torch.manual_seed(0)
    return ToySlotModel(CONFIG, breach=breach)


GOOD = _model()
BREACHED = {b: _model(b) for b in ("offset", "cumsum", "position")}


@settings(max_examples=15, deadline=None)
@given(perm=non_identity(K), seed=st.integers(0, 2**16), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_symmetric_toy_passes_every_slot_permutation(perm, seed, dtype):
    with sym.default_dtype(dtype):
        model = GOOD.to(dtype)
        try:
            for probe in model.equivariance_probes():
                for trial in sym.check_probe(probe, 2, seed, dtype, perms=[perm]):
                    assert trial.passed, trial
        finally:
            GOOD.float()


@settings(max_examples=15, deadline=None)
@given(perm=non_identity(H * W), seed=st.integers(0, 2**16))
def test_symmetric_toy_passes_every_input_order(perm, seed):
    probe = GOOD.input_order_probe()
    assert all(t.passed for t in sym.check_probe(probe, 2, seed, perms=[perm], input_order=True))


@settings(max_examples=15, deadline=None)
@given(perm=non_identity(K), seed=st.integers(0, 2**16))
def test_slot_offset_is_caught(perm, seed):
    # slot k gets + k * 0.01 in the posterior: every non-identity permutation moves some slot
    probes = {p.name: p for p in BREACHED["offset"].equivariance_probes()}
    trials = sym.check_probe(probes["posterior_layer"], 2, seed, perms=[perm])
    assert not any(t.passed for t in trials)
    assert min(t.max_abs_dev for t in trials) >= 0.01 - 1e-6


@settings(max_examples=15, deadline=None)
@given(perm=non_identity(K), seed=st.integers(0, 2**16))
def test_cumulative_sum_over_slots_is_caught(perm, seed):
    probes = {p.name: p for p in BREACHED["cumsum"].equivariance_probes()}
    trials = {t.output: t for t in sym.check_probe(probes["decoder"], 2, seed, perms=[perm])}
    assert not trials["masks"].passed and not trials["components"].passed


@settings(max_examples=15, deadline=None)
@given(perm=non_identity(H * W), seed=st.integers(0, 2**16))
def test_position_dependent_encoder_is_caught(perm, seed):
    probe = BREACHED["position"].input_order_probe()
    assert not any(t.passed for t in sym.check_probe(probe, 2, seed, perms=[perm], input_order=True))


@pytest.mark.parametrize("seeds", [[0], [1, 2, 3]])
def test_check_model_verdicts_on_toys(seeds):
    assert sym.exit_status(sym.check_model(GOOD, batch_size=2, seeds=seeds)) == 0
    for breach, model in BREACHED.items():
        table = sym.check_model(model, batch_size=2, seeds=seeds)
        assert sym.exit_status(table) == 1, breach
        assert "violated" in set(table["verdict"])
