"""Executable symmetry checks (appendix A of the EfficientMORL paper).

Appendix A argues that EfficientMORL's bottom-up posterior, hierarchical prior, refinement network
and decoder are *equivariant* to permutations of the K slots (A.1), that the decoded image and the
loss are therefore *invariant* to them, and that set attention makes the posterior *invariant* to
the order of the N = HW flattened input features (A.2). This module measures each property.

A model exposes what to check through :meth:`ObjectCentricModel.equivariance_probes` and
:meth:`ObjectCentricModel.input_order_probe` (see :class:`models.interface.EquivarianceProbe`):
pure functions of explicit inputs, noise included, so the noise can be permuted with the slots.
For every probe, seed and random permutation ``P`` (the identity is never drawn) the checker runs

* slot probes: ``fn(P x)`` against ``P fn(x)`` for slot-equivariant outputs (slot axis at dim 1)
  and against ``fn(x)`` for outputs in ``invariant_keys``; inputs in ``fixed_keys`` (the image)
  are not permuted, every other input is permuted along dim 1 (``[B, K, ...]``);
* the input-order probe: ``fn`` with ``"features" [B, N, C]`` permuted along N against ``fn``
  with the original order; every output must be unchanged.

Deviation and tolerance (per output tensor, per trial)::

    max_abs_dev = max |f(P x) - P f(x)|             (over every element)
    scale       = max |f(x)|                        (the output's magnitude)
    rel_dev     = max_abs_dev / scale
    floor       = max |f(x) - f64(x)| + max |f(Px) - f64(Px)|     (float32 mode only)
    tolerance   = max(rtol * scale + atol, 2 * floor)      passed <=> max_abs_dev <= tolerance

with ``rtol = 1e-5, atol = 1e-7`` in float32 and ``rtol = 1e-10, atol = 1e-13`` in float64
(:data:`TOLERANCES`). An exactly symmetric network differs only by rounding: reductions over K
(softmax over slots, the sum over K in the decoder, the sum over N in set attention) add the same
numbers in another order, which moves each result by a unit or so in the last place (float32:
``eps = 1.2e-7``; float64: ``eps = 2.2e-16``). In a shallow component (one posterior layer, the
prior, the decoder) that drift stays near 1e-7..1e-6 relative in float32, inside ``rtol``. A
deep, partly chaotic pipeline amplifies it: EfficientMORL's full inference (L layers, then I
refinement steps driven by gradients of a loss summed over all pixels) reaches ~2e-4 relative at
the Tetrominoes size with generic weights. So in float32 mode the checker also runs a float64 copy
of the model on the same inputs and measures each output's own float32 rounding error, the
*rounding floor*. By the triangle inequality
``|f(Px) - P f(x)| <= |f(Px) - f64(Px)| + |f64(Px) - P f64(x)| + |f(x) - f64(x)| = floor + dev64``,
so a float32 deviation beyond ``2 * floor`` means the float64 computation itself deviates by more
than the float32 rounding error: a real violation, not rounding. An order-dependent bug (a
per-slot offset, an autoregressive dependency, a cumulative sum over slots) changes the outputs by
``O(1)`` relative, far outside either bound. The float64 mode (model and inputs cast to float64,
fixed tolerance) is the strict check: rounding drops to ~1e-15 and any violation above 1e-10
relative shows.

Each row of the result reports the worst trial of an output (largest ``max_abs_dev / tolerance``),
so ``passed == (max_abs_dev <= tolerance)`` holds row by row.

A check is only as good as its inputs: if the K slots of an output are (nearly) identical, a
permutation moves nothing and the check passes whatever the network does. For equivariant outputs
``sensitivity = max |P f(x) - f(x)| / scale`` (the least over trials) measures how far the
permutation moves the output; below :data:`MIN_SENSITIVITY` (0.1 %) the row is marked
``informative=False``. EfficientMORL's reference init (xavier, gain 0.02) is such a case at random
init; :func:`generic_weights` redraws the parameters so that the slots differ (the properties are
structural and must hold for any weights), which the CI gate and ``--generic-weights`` use.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from emorl_eval.models.interface import EquivarianceProbe, ObjectCentricModel

SLOT_EQUIVARIANCE = "slot equivariance"
SLOT_INVARIANCE = "slot invariance"
INPUT_ORDER_INVARIANCE = "input-order invariance"

#: the key of the input-order probe's permuted input (``[B, N, C]``)
FEATURES_KEY = "features"

COLUMNS = [
    "model",
    "component",
    "output",
    "property",
    "claimed",
    "max_abs_dev",
    "rel_dev",
    "tolerance",
    "rounding_floor",
    "passed",
    "verdict",
    "sensitivity",
    "informative",
    "dtype",
    "trials",
]


@dataclass(frozen=True)
class Tolerance:
    """``tolerance = max(rtol * scale + atol, floor_factor * floor)``.

    ``scale`` is the output's max magnitude; ``floor`` is the output's float32 rounding error on
    the original and the permuted inputs, measured against a float64 copy of the model (0 when
    not measured, as in float64 mode; see the module docstring).
    """

    rtol: float
    atol: float
    floor_factor: float = 2.0

    def __call__(self, scale: float, floor: float = 0.0) -> float:
        return max(self.rtol * scale + self.atol, self.floor_factor * floor)


#: an equivariant output whose slots differ by less than this fraction of its magnitude
#: (``sensitivity``) cannot tell equivariance from ignoring the permutation: ``informative=False``
MIN_SENSITIVITY = 1e-3

#: tolerances by dtype (see the module docstring for the reasoning)
TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float32: Tolerance(rtol=1e-5, atol=1e-7),
    torch.float64: Tolerance(rtol=1e-10, atol=1e-13),
}


def verdict(claimed: bool, passed: bool) -> str:
    """The report's wording: ``holds`` / ``violated`` for claimed properties, prefixed with
    ``not claimed /`` for properties the model's design does not claim (ordered models)."""
    word = "holds" if passed else "violated"
    return word if claimed else f"not claimed / {word}"


def exit_status(table: pd.DataFrame) -> int:
    """0 when every measured property holds, 1 when any is violated.

    A violation counts whether or not the design claims the property: a claimed one is a bug,
    an unclaimed one (GENESIS's ordered posterior) is the measured asymmetry the report exists to
    show, and both make the check fail.
    """
    return 0 if bool(table["passed"].all()) else 1


# --- permutations ---------------------------------------------------------------------------


def random_permutations(n: int, count: int, generator: torch.Generator) -> list[Tensor]:
    """``count`` random permutations of ``range(n)`` (int64 ``[n]``), never the identity.

    Returns an empty list when ``n < 2`` (no non-identity permutation exists).
    """
    if n < 2:
        return []
    identity = torch.arange(n)
    perms: list[Tensor] = []
    while len(perms) < count:
        perm = torch.randperm(n, generator=generator)
        if not torch.equal(perm, identity):
            perms.append(perm)
    return perms


def permute(x: Tensor, perm: Tensor, dim: int = 1) -> Tensor:
    """``x`` with its ``dim`` axis reordered by ``perm`` (``out[:, i] = x[:, perm[i]]``)."""
    return x.index_select(dim, perm.to(x.device))


# --- measuring one probe --------------------------------------------------------------------


@dataclass
class Trial:
    """The deviation of one output in one (seed, permutation) trial."""

    component: str
    output: str
    property: str
    max_abs_dev: float
    scale: float
    tolerance: float
    #: ``max |f(x) - f64(x)| + max |f(Px) - f64(Px)|``, the output's own rounding error against a
    #: float64 copy of the model (0 when not measured)
    floor: float = 0.0
    #: equivariant outputs: ``max |P f(x) - f(x)| / scale``, how far the permutation moves the
    #: output (what an order-ignoring output would deviate by); NaN for invariant outputs
    sensitivity: float = float("nan")

    @property
    def rel_dev(self) -> float:
        if self.scale > 0:
            return self.max_abs_dev / self.scale
        return 0.0 if self.max_abs_dev == 0 else float("inf")

    @property
    def passed(self) -> bool:
        # NaN deviations (a NaN output) fail: the comparison is False
        return bool(self.max_abs_dev <= self.tolerance)

    @property
    def badness(self) -> float:
        if self.max_abs_dev != self.max_abs_dev:  # NaN is the worst
            return float("inf")
        return self.max_abs_dev / self.tolerance if self.tolerance > 0 else float("inf")


def _deviation(actual: Tensor, expected: Tensor) -> tuple[float, float]:
    """(max |actual - expected|, max |expected|) in float64; shapes must match."""
    if actual.shape != expected.shape:
        raise ValueError(f"output shapes differ: {tuple(actual.shape)} vs {tuple(expected.shape)}")
    if actual.numel() == 0:
        return 0.0, 0.0
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    dev = (a - e).abs().max().item()
    if torch.isnan(a).any() or torch.isnan(e).any():
        dev = float("nan")
    return dev, e.abs().max().item()


def _cast_inputs(inputs: dict[str, Tensor], dtype: torch.dtype, device: torch.device | None) -> dict[str, Tensor]:
    out = {}
    for key, value in inputs.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"probe input {key!r} is a {type(value).__name__}, not a Tensor")
        if value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.to(device) if device is not None else value
    return out


def _call(probe: EquivarianceProbe, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    outputs = probe.fn(inputs)
    if not isinstance(outputs, dict) or not outputs:
        raise TypeError(f"probe {probe.name!r} must return a non-empty dict of tensors")
    for key, value in outputs.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"probe {probe.name!r} output {key!r} is a {type(value).__name__}, not a Tensor")
    return outputs


def slot_axis_size(probe: EquivarianceProbe, inputs: dict[str, Tensor]) -> int:
    """K: the common size of dim 1 over the probe's permuted (non-fixed) inputs."""
    sizes = {key: value.shape[1] for key, value in inputs.items() if key not in probe.fixed_keys}
    if not sizes:
        raise ValueError(f"probe {probe.name!r} has no slot-axis input (every input is in fixed_keys)")
    if len(set(sizes.values())) != 1:
        raise ValueError(f"probe {probe.name!r}: slot inputs disagree on K (dim 1): {sizes}")
    return next(iter(sizes.values()))


def _as_float64(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.to(torch.float64) if v.is_floating_point() else v for k, v in inputs.items()}


def _call64(probe: EquivarianceProbe | None, inputs: dict[str, Tensor]) -> dict[str, Tensor] | None:
    if probe is None:
        return None
    with default_dtype(torch.float64):
        return _call(probe, _as_float64(inputs))


def _rounding_error(outputs: dict[str, Tensor], exact: dict[str, Tensor] | None, key: str) -> float:
    if exact is None or key not in exact or exact[key].shape != outputs[key].shape:
        return 0.0
    err, _ = _deviation(outputs[key], exact[key])
    return err if err == err else 0.0  # a NaN output fails on its own


@torch.no_grad()
def probe_trials(
    probe: EquivarianceProbe,
    inputs: dict[str, Tensor],
    perms: Iterable[Tensor],
    tolerance: Tolerance,
    input_order: bool = False,
    reference: EquivarianceProbe | None = None,
) -> list[Trial]:
    """Measure one probe on fixed ``inputs`` under each permutation in ``perms``.

    Args:
        probe: the probe; ``probe.fn`` must be deterministic.
        inputs: from ``probe.make_inputs`` (already cast to the check's dtype).
        perms: int64 permutations of the slot axis (``[K]``) or, with ``input_order``, of the
            feature axis (``[N]``).
        tolerance: the dtype's :class:`Tolerance`.
        input_order: check input-order invariance (permute ``inputs["features"]`` along N,
            every output invariant) instead of slot equivariance/invariance.
        reference: the same probe of a float64 copy of the model; when given, each output's
            rounding floor (its float32 error on ``x`` and ``Px``) widens the tolerance.

    Returns:
        One :class:`Trial` per (permutation, output).
    """
    base = _call(probe, inputs)
    base64 = _call64(reference, inputs)
    trials: list[Trial] = []
    for perm in perms:
        if input_order:
            if FEATURES_KEY not in inputs:
                raise ValueError(f"input-order probe {probe.name!r} has no {FEATURES_KEY!r} input")
            permuted = dict(inputs)
            permuted[FEATURES_KEY] = permute(inputs[FEATURES_KEY], perm)
        else:
            permuted = {k: v if k in probe.fixed_keys else permute(v, perm) for k, v in inputs.items()}
        outputs = _call(probe, permuted)
        outputs64 = _call64(reference, permuted)
        if set(outputs) != set(base):
            raise ValueError(f"probe {probe.name!r} returned different outputs for permuted inputs")
        for key, ref in base.items():
            invariant = input_order or key in probe.invariant_keys
            if invariant:
                expected, prop = ref, INPUT_ORDER_INVARIANCE if input_order else SLOT_INVARIANCE
            else:
                if ref.dim() < 2 or ref.shape[1] != perm.numel():
                    raise ValueError(
                        f"probe {probe.name!r} output {key!r} {tuple(ref.shape)} has no slot axis of "
                        f"size {perm.numel()} at dim 1; list it in invariant_keys if it has none"
                    )
                expected, prop = permute(ref, perm), SLOT_EQUIVARIANCE
            dev, scale = _deviation(outputs[key], expected)
            sensitivity = float("nan")
            if prop == SLOT_EQUIVARIANCE:
                moved, _ = _deviation(expected, ref)
                sensitivity = moved / scale if scale > 0 else 0.0
            floor = _rounding_error(base, base64, key) + _rounding_error(outputs, outputs64, key)
            trials.append(Trial(probe.name, key, prop, dev, scale, tolerance(scale, floor),
                                floor=floor, sensitivity=sensitivity))
    if not all(t.passed for t in trials):
        _require_deterministic(probe, inputs, base, tolerance)
    return trials


def _require_deterministic(probe: EquivarianceProbe, inputs: dict[str, Tensor], base: dict[str, Tensor],
                           tolerance: Tolerance) -> None:
    """A failing probe is re-run on the same inputs: if it does not repeat itself within the
    tolerance, its "violation" is hidden randomness (noise not passed as an input), not an
    asymmetry, and the probe is reported as broken (ValueError)."""
    again = _call(probe, inputs)
    for key, ref in base.items():
        dev, scale = _deviation(again[key], ref)
        if dev > tolerance(scale):
            raise ValueError(
                f"probe {probe.name!r} is not deterministic: two calls on the same inputs differ by "
                f"{dev:.2e} in {key!r}; every random draw must be an explicit input"
            )


# --- the model-level check ------------------------------------------------------------------


@torch.no_grad()
def generic_weights(model: ObjectCentricModel, seed: int = 0, vector_std: float = 0.1) -> ObjectCentricModel:
    """A copy of ``model`` with every parameter redrawn from a generic distribution.

    Appendix A's properties are structural (weight tying, sums over K and N), so they must hold
    for any weights. Random inits can hide violations: EfficientMORL's reference init (xavier,
    gain 0.02) makes all K slots agree to ~1e-9 and its decoder nearly constant, so permuting the
    slots barely moves any output (see ``sensitivity``). Redrawing matrices (``dim >= 2``) as
    ``N(0, 1 / fan_in)`` (variance preserving, ``fan_in = numel / shape[0]``) and perturbing
    vectors and scalars (biases, norm gains, initial states) by ``N(0, vector_std^2)`` gives
    distinct slots without blowing up activations. Buffers (GECO state, ...) are kept.
    """
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    for param in model.parameters():
        if not param.is_floating_point():
            continue
        if param.dim() >= 2:
            fan_in = max(1, param[0].numel())
            new = torch.randn(param.shape, generator=generator, dtype=torch.float64) / fan_in**0.5
            param.copy_(new.to(param))
        else:
            param.add_((vector_std * torch.randn(param.shape, generator=generator, dtype=torch.float64)).to(param))
    return model


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Temporarily set torch's default float dtype (so tensors a probe creates match)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _model_device(model: torch.nn.Module) -> torch.device | None:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return None


def model_probes(model: ObjectCentricModel) -> list[tuple[EquivarianceProbe, bool]]:
    """(probe, is_input_order) for every probe the model exposes."""
    probes = [(p, False) for p in model.equivariance_probes()]
    order = model.input_order_probe()
    if order is not None:
        probes.append((order, True))
    return probes


@torch.no_grad()
def check_probe(
    probe: EquivarianceProbe,
    batch_size: int,
    seed: int,
    dtype: torch.dtype = torch.float32,
    num_perms: int = 3,
    perms: Sequence[Sequence[int] | Tensor] | None = None,
    input_order: bool = False,
    device: torch.device | None = None,
    reference: EquivarianceProbe | None = None,
) -> list[Trial]:
    """Measure one probe for one seed.

    Inputs are ``probe.make_inputs(batch_size, torch.Generator().manual_seed(seed))`` cast to
    ``dtype``; the permutations are ``perms`` when given (e.g. drawn by hypothesis), otherwise
    ``num_perms`` random non-identity ones from a generator seeded with ``seed``. ``reference``
    is the matching probe of a float64 copy (:func:`float64_references`) for the rounding floor.
    Call inside :func:`default_dtype` (as :func:`check_model` does) when ``dtype`` is not the
    default. Returns one :class:`Trial` per (permutation, output); none when the permuted axis
    has < 2 elements.
    """
    inputs = _cast_inputs(probe.make_inputs(batch_size, torch.Generator().manual_seed(seed)), dtype, device)
    if input_order:
        if FEATURES_KEY not in inputs:
            raise ValueError(f"input-order probe {probe.name!r} has no {FEATURES_KEY!r} input")
        n = inputs[FEATURES_KEY].shape[1]
    else:
        n = slot_axis_size(probe, inputs)
    if perms is None:
        chosen = random_permutations(n, num_perms, torch.Generator().manual_seed(10_007 + seed))
    else:
        chosen = [torch.as_tensor(p, dtype=torch.int64) for p in perms]
        for p in chosen:
            if sorted(p.tolist()) != list(range(n)):
                raise ValueError(f"{p.tolist()} is not a permutation of range({n}) for probe {probe.name!r}")
    return probe_trials(probe, inputs, chosen, TOLERANCES[dtype], input_order=input_order, reference=reference)


def float64_references(model: ObjectCentricModel) -> list[EquivarianceProbe]:
    """The probes of a float64 deep copy of ``model``, in :func:`model_probes` order."""
    copy64 = copy.deepcopy(model).to(torch.float64).eval()
    with default_dtype(torch.float64):
        return [probe for probe, _ in model_probes(copy64)]


@torch.no_grad()
def check_model(
    model: ObjectCentricModel,
    batch_size: int = 4,
    seeds: Sequence[int] | int = (0, 1, 2),
    dtype: torch.dtype = torch.float32,
    num_perms: int = 3,
    model_label: str | None = None,
    progress: bool = False,
    rounding_floor: bool = True,
) -> pd.DataFrame:
    """Measure every symmetry property a model exposes.

    For each probe and seed, inputs are drawn with ``probe.make_inputs(batch_size,
    torch.Generator().manual_seed(seed))`` and ``num_perms`` random non-identity permutations
    (slot axis K, or feature axis N for the input-order probe) are drawn from a generator seeded
    with ``seed`` as well (see :func:`check_probe`). The model is never modified: deep copies are
    cast (float64 mode, and the float64 reference of float32 mode); the check runs in eval mode
    without gradients.

    Args:
        model: any :class:`ObjectCentricModel`.
        batch_size: B of the probe inputs.
        seeds: one seed or several.
        dtype: ``torch.float32`` (default) or ``torch.float64`` (strict check).
        num_perms: permutations per seed and probe.
        model_label: the ``model`` column (default ``model.model_name``).
        progress: show a tqdm bar over (probe, seed) on stderr.
        rounding_floor: in float32 mode, also run a float64 copy to measure each output's own
            rounding error and widen the tolerance to twice it (module docstring); False keeps
            the fixed ``rtol * scale + atol`` (faster, stricter, may flag deep pipelines).

    Returns:
        One row per (component, output, property): columns :data:`COLUMNS` (``model, component,
        output, property, claimed, max_abs_dev, rel_dev, tolerance, rounding_floor, passed,
        verdict, sensitivity, informative, dtype, trials``), each the worst trial of that output.
        A probe whose permuted axis has fewer than 2 elements gets no rows.

    Raises:
        ConfigError: the model exposes no probes, or ``dtype`` is not float32/float64.
    """
    from emorl_eval.errors import ConfigError

    if dtype not in TOLERANCES:
        raise ConfigError(f"dtype {dtype} not supported; use torch.float32 or torch.float64")
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    label = model_label or getattr(model, "model_name", type(model).__name__)

    was_training = model.training
    if dtype != _model_dtype(model):
        model = copy.deepcopy(model).to(dtype)
    model.eval()
    device = _model_device(model)
    try:
        with default_dtype(dtype):
            probes = model_probes(model)
            if not probes:
                raise ConfigError(f"model {label!r} exposes no symmetry probes; nothing to check")
            references: list[EquivarianceProbe | None] = [None] * len(probes)
            if rounding_floor and dtype == torch.float32:
                references = list(float64_references(model))
                names = [p.name for p, _ in probes]
                if [r.name for r in references] != names:  # pragma: no cover - a probe-order bug
                    raise ValueError(f"float64 copy of {label!r} exposes different probes")
            rows = []
            bar = tqdm(total=len(probes) * len(seeds), desc=f"symmetry {label}", disable=not progress, leave=False)
            for (probe, input_order), reference in zip(probes, references):
                trials: list[Trial] = []
                for seed in seeds:
                    trials += check_probe(probe, batch_size, seed, dtype, num_perms,
                                          input_order=input_order, device=device, reference=reference)
                    bar.update()
                rows += summarize_trials(trials, label, probe.claimed, dtype)
            bar.close()
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=COLUMNS)


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def summarize_trials(trials: list[Trial], model: str, claimed: bool, dtype: torch.dtype) -> list[dict]:
    """One row per (component, output, property): the worst trial of that output."""
    groups: dict[tuple[str, str, str], list[Trial]] = {}
    for trial in trials:
        groups.setdefault((trial.component, trial.output, trial.property), []).append(trial)
    rows = []
    for (component, output, prop), group in groups.items():
        worst = max(group, key=lambda t: t.badness)
        passed = all(t.passed for t in group)
        finite = [t.sensitivity for t in group if t.sensitivity == t.sensitivity]
        sensitivity = min(finite) if finite else float("nan")  # NaN for invariant outputs
        rows.append(
            {
                "model": model,
                "component": component,
                "output": output,
                "property": prop,
                "claimed": bool(claimed),
                "max_abs_dev": worst.max_abs_dev,
                "rel_dev": worst.rel_dev,
                "tolerance": worst.tolerance,
                "rounding_floor": worst.floor,
                "passed": passed,
                "verdict": verdict(claimed, passed),
                "sensitivity": sensitivity,
                "informative": None if sensitivity != sensitivity else bool(sensitivity >= MIN_SENSITIVITY),
                "dtype": str(dtype).replace("torch.", ""),
                "trials": len(group),
            }
        )
    return rows


# --- report ---------------------------------------------------------------------------------


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.drop(columns=["passed", "informative"]).copy()
    shown = shown.drop(columns=[c for c in ("checkpoint", "checkpoint_sha256", "warnings") if c in shown.columns])
    for col in ("max_abs_dev", "rel_dev", "tolerance", "rounding_floor", "sensitivity"):
        shown[col] = shown[col].map(lambda v: "-" if v != v else f"{v:.2e}")
    weak = table["informative"].map(lambda v: v is False or v == False)  # noqa: E712 (None stays)
    shown.loc[weak.astype(bool), "verdict"] = shown.loc[weak.astype(bool), "verdict"] + " (uninformative)"
    return shown


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table for the terminal (deviations in scientific notation; verdicts of rows
    whose slots barely differ are marked ``(uninformative)``)."""
    return _shown(table).to_string(index=False)


def to_markdown(table: pd.DataFrame, title: str = "Symmetry checks") -> str:
    """A Markdown report: the table, the tolerance rule and the overall verdict."""
    shown = _shown(table)
    violated = table[~table["passed"]]
    weak = table[table["informative"].map(lambda v: v is False)]
    lines = [
        f"# {title}",
        "",
        shown.to_markdown(index=False),
        "",
        "Deviation of an output: `max |f(Px) - P f(x)|` (equivariance) or `max |f(Px) - f(x)|`"
        " (invariance) over all elements, the worst of the trials (seeds x random non-identity"
        " permutations); `rel_dev` divides by the output's max magnitude `scale`.",
        "Tolerance: `max(rtol * scale + atol, 2 * rounding_floor)` with "
        + "; ".join(f"{str(d).replace('torch.', '')}: rtol={t.rtol:g}, atol={t.atol:g}" for d, t in TOLERANCES.items())
        + "; `rounding_floor` (float32 mode) = the output's own float32 rounding error on x and Px,"
        " measured against a float64 copy of the model: a deviation beyond twice it cannot be"
        " rounding (triangle inequality). Deep pipelines such as the full inference amplify"
        " rounding; float64 mode is the strict check.",
        "`sensitivity` (equivariant outputs): `max |P f(x) - f(x)| / scale`, how far the permutation"
        " moves the output; below "
        f"{MIN_SENSITIVITY:g} the slots are nearly identical and the check cannot tell equivariance"
        " from ignoring the permutation (marked `uninformative`; e.g. EfficientMORL's xavier init"
        " with gain 0.02 at random init: check with `--generic-weights`).",
        "",
    ]
    if not weak.empty:
        lines += [f"*{len(weak)} equivariant output(s) uninformative (sensitivity < {MIN_SENSITIVITY:g}).*", ""]
    if violated.empty:
        lines.append("**Result: every measured property holds (exit status 0).**")
    else:
        claimed = violated[violated["claimed"]]
        lines.append(
            f"**Result: {len(violated)} output(s) violated"
            f" ({len(claimed)} claimed, {len(violated) - len(claimed)} not claimed by the design)"
            " (exit status 1).**"
        )
    return "\n".join(lines) + "\n"


def write_report(table: pd.DataFrame, out_dir: str | Path, stem: str, title: str = "Symmetry checks") -> tuple[Path, Path]:
    """Write ``out_dir/stem.csv`` and ``out_dir/stem.md``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / f"{stem}.csv", out / f"{stem}.md"
    table.to_csv(csv_path, index=False)
    md_path.write_text(to_markdown(table, title))
    return csv_path, md_path
