"""Unit tests of the symmetry checker on toy functions with known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emorl_eval import symmetry as sym
from emorl_eval.errors import ConfigError
from emorl_eval.models.interface import EquivarianceProbe
from tests.symmetry.toys import NoProbeModel, ToySlotModel

F32 = sym.TOLERANCES[torch.float32]
F64 = sym.TOLERANCES[torch.float64]


def _probe(fn, k=4, d=3, fixed=(), invariant=(), claimed=True, extra=None):
    def make(b, g):
        x = {"z": torch.randn(b, k, d, generator=g, dtype=torch.float64)}
        if extra:
            x.update(extra(b, g))
        return x

    return EquivarianceProbe("toy", fn, make, fixed_keys=fixed, invariant_keys=invariant, claimed=claimed)


def _trials(probe, perms, tol=F64, b=2, seed=0, input_order=False):
    inputs = probe.make_inputs(b, torch.Generator().manual_seed(seed))
    return sym.probe_trials(probe, inputs, [torch.as_tensor(p) for p in perms], tol, input_order=input_order)


# --- permutations ---------------------------------------------------------------------------


def test_random_permutations_are_valid_non_identity_and_seeded():
    perms = sym.random_permutations(3, 50, torch.Generator().manual_seed(1))
    assert len(perms) == 50
    for p in perms:
        assert sorted(p.tolist()) == [0, 1, 2]
        assert p.tolist() != [0, 1, 2]
    again = sym.random_permutations(3, 50, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(perms, again))
    # all five non-identity permutations of 3 elements show up
    assert len({tuple(p.tolist()) for p in perms}) == 5


def test_random_permutations_of_fewer_than_two_elements_is_empty():
    assert sym.random_permutations(1, 3, torch.Generator()) == []
    assert sym.random_permutations(0, 3, torch.Generator()) == []


def test_permute_reorders_dim1():
    x = torch.arange(12).reshape(2, 3, 2)
    out = sym.permute(x, torch.tensor([2, 0, 1]))
    assert out[:, 0].tolist() == x[:, 2].tolist()
    assert out[:, 1].tolist() == x[:, 0].tolist()
    assert out[:, 2].tolist() == x[:, 1].tolist()


# --- known deviations -----------------------------------------------------------------------


def test_slot_offset_deviation_is_exactly_eps_times_displacement():
    # f(z)_k = z_k + k*eps  =>  f(Pz)_k - (Pf(z))_k = (k - p(k)) * eps
    eps = 0.25
    probe = _probe(lambda x: {"y": x["z"] + eps * torch.arange(x["z"].shape[1], dtype=x["z"].dtype)[None, :, None]})
    (trial,) = _trials(probe, [[3, 1, 2, 0]])
    assert trial.property == sym.SLOT_EQUIVARIANCE
    assert trial.max_abs_dev == pytest.approx(3 * eps, abs=1e-12)
    assert not trial.passed
    (trial,) = _trials(probe, [[1, 0, 2, 3]])
    assert trial.max_abs_dev == pytest.approx(eps, abs=1e-12)


def test_weight_tied_map_is_equivariant_to_the_last_bit():
    w = torch.randn(3, 5, dtype=torch.float64)
    probe = _probe(lambda x: {"y": torch.tanh(x["z"] @ w)})
    trials = _trials(probe, [[1, 2, 3, 0], [3, 2, 1, 0]])
    assert all(t.max_abs_dev == 0.0 and t.passed for t in trials)


def test_cumulative_sum_over_slots_is_caught():
    probe = _probe(lambda x: {"y": x["z"].cumsum(1)})
    (trial,) = _trials(probe, [[1, 0, 2, 3]])
    assert not trial.passed
    assert trial.rel_dev > 0.01


def test_invariant_output_compared_without_permuting():
    probe = _probe(lambda x: {"total": x["z"].sum(1), "y": 2 * x["z"]}, invariant=("total",))
    trials = {t.output: t for t in _trials(probe, [[2, 3, 0, 1]])}
    assert trials["total"].property == sym.SLOT_INVARIANCE
    assert trials["total"].passed and trials["total"].max_abs_dev < 1e-14
    assert trials["y"].property == sym.SLOT_EQUIVARIANCE and trials["y"].max_abs_dev == 0.0
    # a first-slot readout declared invariant is not invariant
    probe = _probe(lambda x: {"first": x["z"][:, 0]}, invariant=("first",))
    (trial,) = _trials(probe, [[1, 0, 2, 3]])
    assert not trial.passed


def test_output_without_slot_axis_must_be_declared_invariant():
    probe = _probe(lambda x: {"total": x["z"].sum(1)})  # [B, D]: dim 1 is D, not K
    with pytest.raises(ValueError, match="invariant_keys"):
        _trials(probe, [[1, 0, 2, 3]])


def test_fixed_inputs_are_not_permuted_and_noise_is():
    seen = []

    def fn(x):
        seen.append(x["image"].clone())
        return {"y": x["z"] * x["image"].mean() + x["noise"]}

    extra = lambda b, g: {"image": torch.rand(b, 3, 2, 2, generator=g, dtype=torch.float64),
                          "noise": torch.randn(b, 4, 3, generator=g, dtype=torch.float64)}
    probe = _probe(fn, fixed=("image",), extra=extra)
    (trial,) = _trials(probe, [[3, 2, 1, 0]])
    assert torch.equal(seen[0], seen[-1])  # reference and permuted call (the middle one is the 1-ulp nudge)
    # noise permuted with the slots: equivariant; had the noise been left fixed it would fail
    assert trial.passed and trial.max_abs_dev < 1e-15
    unpermuted_noise = _probe(fn, fixed=("image", "noise"), extra=extra)
    (trial,) = _trials(unpermuted_noise, [[3, 2, 1, 0]])
    assert not trial.passed


def test_inconsistent_slot_axis_is_reported():
    extra = lambda b, g: {"other": torch.randn(b, 5, 3, generator=g)}
    probe = _probe(lambda x: {"y": x["z"]}, extra=extra)
    inputs = probe.make_inputs(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="disagree on K"):
        sym.slot_axis_size(probe, inputs)


def test_input_order_permutes_only_features_and_requires_invariance():
    w = torch.randn(3, 3, dtype=torch.float64)

    def make(b, g):
        return {"features": torch.randn(b, 7, 3, generator=g, dtype=torch.float64),
                "z": torch.randn(b, 4, 3, generator=g, dtype=torch.float64)}

    def pooled(x):  # attention pooling over N: order invariant
        attn = torch.einsum("bkd,bnd->bkn", x["z"], x["features"] @ w).softmax(-1)
        return {"slots": attn @ x["features"]}

    def positional(x):  # weights depend on the position n: not invariant
        n = x["features"].shape[1]
        return {"slots": (x["features"] * torch.arange(n, dtype=x["features"].dtype)[None, :, None]).sum(1)}

    good = EquivarianceProbe("enc", pooled, make, fixed_keys=("z",))
    perms = [torch.tensor([6, 5, 4, 3, 2, 1, 0]), torch.tensor([1, 0, 2, 3, 4, 5, 6])]
    inputs = make(2, torch.Generator().manual_seed(0))
    trials = sym.probe_trials(good, inputs, perms, F64, input_order=True)
    assert all(t.property == sym.INPUT_ORDER_INVARIANCE and t.passed for t in trials)
    bad = EquivarianceProbe("enc", positional, make, fixed_keys=("z",))
    trials = sym.probe_trials(bad, inputs, perms, F64, input_order=True)
    assert not any(t.passed for t in trials)


def test_nan_output_fails():
    probe = _probe(lambda x: {"y": x["z"] * float("nan")})
    (trial,) = _trials(probe, [[1, 0, 2, 3]])
    assert math.isnan(trial.max_abs_dev) and not trial.passed


def test_float32_rounding_of_reordered_reductions_passes():
    # softmax over slots and sums over K in float32: reordered reductions, rounding-level drift
    w = torch.randn(3, 3)

    def fn(x):
        z = x["z"].float()
        att = (z @ w).softmax(dim=1)
        return {"att": att, "total": (att * z).sum(1) * 1e3}

    probe = _probe(fn, k=7, invariant=("total",))
    trials = _trials(probe, sym.random_permutations(7, 20, torch.Generator().manual_seed(0)), tol=F32, b=16)
    assert all(t.passed for t in trials)
    assert max(t.rel_dev for t in trials) < 1e-5  # far below the 1e-4 tolerance


def test_tolerance_scales_with_output_magnitude():
    assert F32(0.0) == pytest.approx(1e-7)
    assert F32(1e3) == pytest.approx(1e-5 * 1e3 + 1e-7)
    assert F64(1.0) < F32(1.0) * 1e-5


# --- verdict and exit status ----------------------------------------------------------------


def test_verdicts():
    assert sym.verdict(True, True) == "holds"
    assert sym.verdict(True, False) == "violated"
    assert sym.verdict(False, True) == "not claimed / holds"
    assert sym.verdict(False, False) == "not claimed / violated"


@pytest.mark.parametrize(
    "claimed,passed,status",
    [([True, True], [True, True], 0), ([True, True], [True, False], 1), ([False, True], [False, True], 1),
     ([False, True], [True, True], 0)],
)
def test_exit_status(claimed, passed, status):
    assert sym.exit_status(pd.DataFrame({"claimed": claimed, "passed": passed})) == status


# --- the model-level check ------------------------------------------------------------------


def test_check_model_table_shape_and_columns():
    model = ToySlotModel()
    table = sym.check_model(model, batch_size=2, seeds=[0, 1], num_perms=2)
    assert list(table.columns) == sym.COLUMNS
    assert set(table["property"]) == {sym.SLOT_EQUIVARIANCE, sym.SLOT_INVARIANCE, sym.INPUT_ORDER_INVARIANCE}
    assert set(table["component"]) == {"posterior_layer", "decoder", "inference"}
    assert (table["trials"] == 4).all()
    assert table["passed"].all() and (table["verdict"] == "holds").all()
    assert (table["max_abs_dev"] <= table["tolerance"]).all()
    assert sym.exit_status(table) == 0


def test_check_model_float64_is_strict_and_leaves_the_model_alone():
    model = ToySlotModel().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = sym.check_model(model, batch_size=2, seeds=0, dtype=torch.float64, num_perms=2)
    assert table["passed"].all()
    assert (table["dtype"] == "float64").all()
    assert table["tolerance"].max() < 1e-7 and table["max_abs_dev"].max() < 1e-12
    assert model.training and next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.get_default_dtype() == torch.float32


def test_check_model_is_deterministic():
    model = ToySlotModel()
    a = sym.check_model(model, batch_size=2, seeds=[3], num_perms=2)
    b = sym.check_model(model, batch_size=2, seeds=[3], num_perms=2)
    pd.testing.assert_frame_equal(a, b)


def test_unclaimed_violation_is_reported_as_such():
    table = sym.check_model(ToySlotModel(breach="cumsum", claimed=False), batch_size=2, seeds=0, num_perms=2)
    decoder = table[table["component"] == "decoder"]
    assert set(decoder["verdict"]) == {"not claimed / violated"}
    assert not decoder["claimed"].any()
    posterior = table[(table["component"] == "posterior_layer") & (table["property"] == sym.SLOT_EQUIVARIANCE)]
    assert set(posterior["verdict"]) == {"not claimed / holds"}
    assert sym.exit_status(table) == 1


def test_model_without_probes_is_a_config_error():
    with pytest.raises(ConfigError, match="no symmetry probes"):
        sym.check_model(NoProbeModel())


def test_unsupported_dtype_is_a_config_error():
    with pytest.raises(ConfigError, match="dtype"):
        sym.check_model(ToySlotModel(), dtype=torch.float16)


def test_markdown_report_states_result_and_tolerances(tmp_path):
    good = sym.check_model(ToySlotModel(), batch_size=2, seeds=0, num_perms=1)
    csv_path, md_path = sym.write_report(good, tmp_path, "good")
    back = pd.read_csv(csv_path)
    pd.testing.assert_frame_equal(back.drop(columns="informative"), good.drop(columns="informative"), check_dtype=False)
    assert back["informative"].isna().tolist() == good["informative"].isna().tolist()
    text = md_path.read_text()
    assert "| model" in text and "rtol=1e-05" in text and "rounding_floor" in text and "exit status 0" in text
    bad = sym.check_model(ToySlotModel(breach="offset"), batch_size=2, seeds=0, num_perms=1)
    text = sym.to_markdown(bad)
    assert "violated" in text and "exit status 1" in text


@settings(max_examples=25, deadline=None)
@given(perm=st.permutations(range(5)).filter(lambda p: list(p) != list(range(5))))
def test_any_non_identity_permutation_catches_a_cumsum(perm):
    probe = _probe(lambda x: {"y": x["z"].cumsum(1)}, k=5)
    (trial,) = _trials(probe, [perm])
    assert not trial.passed


# --- informativeness and generic weights ----------------------------------------------------


def test_identical_slots_make_equivariance_uninformative():
    # every slot the same: permuting moves nothing, so an order-ignoring output would pass too
    def make(b, g):
        return {"z": torch.randn(b, 1, 3, generator=g).expand(b, 4, 3).contiguous()}

    probe = EquivarianceProbe("same", lambda x: {"y": x["z"] * 2, "total": x["z"].sum(1)}, make,
                              invariant_keys=("total",))
    rows = {r["output"]: r for r in sym.summarize_trials(sym.check_probe(probe, 2, 0), "toy", True, torch.float32)}
    assert rows["y"]["sensitivity"] == 0.0 and rows["y"]["informative"] is False
    assert math.isnan(rows["total"]["sensitivity"]) and rows["total"]["informative"] is None
    distinct = EquivarianceProbe("distinct", lambda x: {"y": x["z"] * 2}, lambda b, g: {"z": torch.randn(b, 4, 3, generator=g)})
    (row,) = sym.summarize_trials(sym.check_probe(distinct, 2, 0), "toy", True, torch.float32)
    assert row["informative"] is True and row["sensitivity"] > 0.1


def test_sensitivity_is_the_relative_move_of_the_output():
    # y = z with slots [0, 1, 2]: swapping slots 0 and 2 moves the output by 2 of a scale of 2
    probe = EquivarianceProbe("ramp", lambda x: {"y": x["z"]},
                              lambda b, g: {"z": torch.arange(3.0).reshape(1, 3, 1).expand(b, 3, 2)})
    (trial,) = sym.check_probe(probe, 1, 0, perms=[[2, 1, 0]])
    assert trial.sensitivity == pytest.approx(1.0)


def test_generic_weights_redraws_parameters_of_a_copy():
    model = ToySlotModel()
    model.register_buffer("state", torch.tensor([3.0]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    generic = sym.generic_weights(model, seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched
    assert torch.equal(generic.state, model.state)  # buffers kept
    w = generic.decoder[0].weight
    assert not torch.equal(w, model.decoder[0].weight)
    assert w.std().item() == pytest.approx(1 / w.shape[1] ** 0.5, rel=0.3)
    assert (generic.decoder[0].bias - model.decoder[0].bias).abs().max() < 0.6
    again = sym.generic_weights(model, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(generic.parameters(), again.parameters()))
    assert sym.exit_status(sym.check_model(generic, batch_size=2, seeds=0, num_perms=1)) == 0


def test_tolerance_grants_twice_the_rounding_floor():
    assert F32(2.0, floor=0.0) == pytest.approx(2e-5 + 1e-7)
    assert F32(2.0, floor=1e-3) == pytest.approx(2e-3)


def test_rounding_floor_is_the_float32_error_against_float64():
    # y = z * w in float32 vs float64 on the same (float32-representable) inputs
    w32 = torch.tensor(0.1, dtype=torch.float32)
    probe = EquivarianceProbe("scale", lambda x: {"y": x["z"] * w32.to(x["z"].dtype)},
                              lambda b, g: {"z": torch.randn(b, 4, 3, generator=g)})
    reference = EquivarianceProbe("scale", lambda x: {"y": x["z"] * w32.double()}, probe.make_inputs)
    (trial,) = sym.check_probe(probe, 4, 0, perms=[[1, 0, 2, 3]], reference=reference)
    z = probe.make_inputs(4, torch.Generator().manual_seed(0))["z"]
    err = ((z * w32).double() - z.double() * w32.double()).abs().max().item()
    assert 0 < err < 1e-7
    assert trial.floor == pytest.approx(2 * err)  # on x and on Px (same elements, permuted)
    assert trial.tolerance == pytest.approx(max(1e-5 * trial.scale + 1e-7, 4 * err))
    (plain,) = sym.check_probe(probe, 4, 0, perms=[[1, 0, 2, 3]])
    assert plain.floor == 0.0


class _Chaotic(ToySlotModel):
    """Ten steps of a logistic map per element, coupled across slots by a softmax over K: the
    reordered softmax sums are amplified ~100x (Lyapunov exponent ~0.5 per step)."""

    bias = 0.0

    def equivariance_probes(self):
        def fn(x):
            z = x["z"].sigmoid()
            z = z + self.bias * torch.arange(z.shape[1], dtype=z.dtype)[None, :, None]
            for _ in range(10):
                z = 3.9 * z * (1 - z)
                z = 0.98 * z + 0.02 * z.softmax(dim=1)
            return {"y": z}

        return [EquivarianceProbe("chaos", fn, lambda b, g: {"z": torch.randn(b, 7, 5, generator=g)})]

    def input_order_probe(self):
        return None


def test_float32_check_of_a_chaotic_pipeline_uses_its_rounding_floor():
    # rounding alone exceeds the fixed rtol, but a float64 copy shows it is rounding
    table = sym.check_model(_Chaotic(), batch_size=8, seeds=[0, 1], num_perms=3)
    assert table["passed"].all() and table["informative"].all()
    assert (table["rounding_floor"] > 0).all()
    fixed = sym.check_model(_Chaotic(), batch_size=8, seeds=[0, 1], num_perms=3, rounding_floor=False)
    assert not fixed["passed"].any()
    assert sym.check_model(_Chaotic(), batch_size=8, seeds=[0, 1], dtype=torch.float64)["passed"].all()
    # a real slot bias of 1e-3 stays far outside twice the floor
    biased = _Chaotic()
    biased.bias = 1e-3
    table = sym.check_model(biased, batch_size=8, seeds=[0, 1], num_perms=3)
    assert not table["passed"].any() and table["rel_dev"].min() > 0.1


def test_hidden_randomness_is_reported_not_mistaken_for_asymmetry():
    probe = _probe(lambda x: {"y": x["z"] + torch.randn(x["z"].shape, dtype=x["z"].dtype)})
    with pytest.raises(ValueError, match="not deterministic"):
        _trials(probe, [[1, 0, 2, 3]])
