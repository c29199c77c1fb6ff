"""Interface conformance suite: what ``emorl-eval check-model`` runs on a (plug-in) model.

Every metric, DCI, symmetry check and report of emorl-eval trusts the contract of
:class:`emorl_eval.models.interface.ObjectCentricModel`. :func:`run_checks` tests that contract on
one model and returns one :class:`CheckResult` per property, with the reason for each failure:

==========================  ===================================================================
check                       passes when
==========================  ===================================================================
forward                     ``model(images)`` in eval mode returns a ModelOutput without raising
output shapes               loss ``[]``, nll/kl ``[B]``, recon ``[B, 3, H, W]``, masks
                            ``[B, K, 1, H, W]``, components ``[B, K, 3, H, W]``, latents ``[B, K, D]``
finite outputs              no NaN/inf in any of them
mask normalisation          masks >= 0 and sum to 1 over K (``MASK_SUM_ATOL``)
recon = sum masks x comps   ``recon == sum_k masks_k * components_k`` (``RECON_ATOL``)
loss and gradients          train mode, with the trainer's hooks: finite scalar loss, finite
                            gradients, at least one parameter receives a nonzero gradient
determinism                 two eval forwards with equally seeded generators agree exactly
checkpoint round trip       save_checkpoint -> models.load rebuilds the same config and outputs
decode                      ``decode(latents)`` gives a conforming DecodedScene
sample_prior                ``sample_prior(n, generator)`` is ``[n, K, D]``, finite, seeded, decodable
symmetry: ...               every claimed property of the model's probes holds
                            (``emorl_eval.symmetry``); unclaimed ones are reported, not failed
==========================  ===================================================================

Checks call ``torch.nn.Module.__call__`` directly, bypassing the runtime check every other command
applies (``models.validation.check_output``), so a broken model is described here, not refused.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from torch import Tensor, nn

from emorl_eval.models.interface import DecodedScene, ObjectCentricModel

PASS, FAIL, SKIP, INFO = "pass", "FAIL", "skip", "info"


@dataclass
class CheckResult:
    """One row of the conformance table: ``status`` is ``pass``, ``FAIL``, ``skip`` (an optional
    part the model does not provide, or a check that could not run) or ``info`` (a property the
    model does not claim, measured and shown)."""

    check: str
    status: str
    detail: str = ""


def _raised(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}"


def _forward(model: ObjectCentricModel, images: Tensor, seed: int) -> Any:
    """One forward without the runtime contract check, noise from a generator seeded ``seed``."""
    return nn.Module.__call__(model, images, generator=torch.Generator().manual_seed(seed))


def _scene_problems(model: ObjectCentricModel, scene: Any, batch: int) -> list[str]:
    """Problems of a DecodedScene of ``batch`` scenes at the model's image size."""
    from emorl_eval.models.validation import finite_problems, mask_problems, recon_problems

    if not isinstance(scene, DecodedScene):
        return [f"returned a {type(scene).__name__}, not a DecodedScene"]
    h, w = model.image_size
    k = model.num_slots
    expected = {"recon": (batch, 3, h, w), "masks": (batch, k, 1, h, w), "components": (batch, k, 3, h, w)}
    problems = [f"{name} is {list(getattr(scene, name).shape) if isinstance(getattr(scene, name), Tensor) else type(getattr(scene, name)).__name__}, "
                f"expected {list(shape)}"
                for name, shape in expected.items()
                if not isinstance(getattr(scene, name), Tensor) or tuple(getattr(scene, name).shape) != shape]
    if problems:
        return problems
    problems = finite_problems({name: getattr(scene, name) for name in expected})
    return problems or mask_problems(scene.masks) + recon_problems(scene.masks, scene.components, scene.recon)


def _verdict(check: str, problems: list[str], ok_detail: str = "") -> CheckResult:
    return CheckResult(check, FAIL, "; ".join(problems)) if problems else CheckResult(check, PASS, ok_detail)


def _output_checks(model: ObjectCentricModel, images: Tensor, seed: int) -> tuple[list[CheckResult], Any]:
    """forward, output shapes, finite outputs, mask normalisation, recon rows; and the output
    (None when the later checks cannot use it)."""
    from emorl_eval.models.validation import (
        CHECKED_FIELDS,
        finite_problems,
        mask_problems,
        recon_problems,
        shape_problems,
    )

    dependent = ("output shapes", "finite outputs", "mask normalisation", "recon = sum masks x components")
    model.eval()
    try:
        with torch.no_grad():
            out = _forward(model, images, seed)
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        return [CheckResult("forward", FAIL, _raised(exc))] + [CheckResult(c, SKIP, "forward failed") for c in dependent], None
    rows = [CheckResult("forward", PASS, f"images {list(images.shape)}")]
    shapes = shape_problems(model, images, out)
    rows.append(_verdict("output shapes", shapes, f"K={model.num_slots}, D={model.latent_dim}"))
    if shapes:
        return rows + [CheckResult(c, SKIP, "wrong shapes") for c in dependent[1:]], None
    rows.append(_verdict("finite outputs", finite_problems({n: getattr(out, n) for n in CHECKED_FIELDS})))
    rows.append(_verdict("mask normalisation", mask_problems(out.masks)))
    rows.append(_verdict("recon = sum masks x components", recon_problems(out.masks, out.components, out.recon)))
    return rows, out


def _gradient_check(model: ObjectCentricModel, images: Tensor, seed: int) -> CheckResult:
    """Train-mode forward (with the trainer's hooks) and backward; leaves no gradients behind."""
    try:
        return _gradient_result(model, images, seed)
    finally:
        model.zero_grad(set_to_none=True)


def _gradient_result(model: ObjectCentricModel, images: Tensor, seed: int) -> CheckResult:
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        model.on_train_step(0)
        out = _forward(model, images, seed)
        loss = out.loss
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            return CheckResult("loss and gradients", FAIL, f"loss is {type(loss).__name__} {getattr(loss, 'shape', '')}, expected a scalar tensor")
        if not bool(torch.isfinite(loss)):
            return CheckResult("loss and gradients", FAIL, f"training loss is {float(loss.detach())}")
        if not loss.requires_grad:
            return CheckResult("loss and gradients", FAIL, "loss does not depend on any parameter (requires_grad=False)")
        loss.backward()
        model.after_backward(out)
    except Exception as exc:  # noqa: BLE001
        return CheckResult("loss and gradients", FAIL, _raised(exc))
    finally:
        model.eval()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    bad = [n for n, p in params if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    if bad:
        return CheckResult("loss and gradients", FAIL, f"non-finite gradients in {', '.join(bad[:5])}")
    nonzero = [n for n, p in params if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    if not nonzero:
        return CheckResult("loss and gradients", FAIL, "no parameter receives a nonzero gradient")
    unused = [n for n, p in params if p.grad is None]
    detail = f"loss {float(loss.detach()):.4g}; {len(nonzero)}/{len(params)} parameter tensors get a nonzero gradient"
    if unused:
        # DDP needs --set train.ddp_find_unused_parameters=true for such models
        detail += f" (no gradient: {', '.join(unused[:3])}{', ...' if len(unused) > 3 else ''})"
    return CheckResult("loss and gradients", PASS, detail)


def _same(a: Any, b: Any) -> list[str]:
    fields = ("loss", "nll", "kl", "recon", "masks", "components", "latents")
    # exact equality; NaNs in the same places count as equal (reported by "finite outputs")
    return [f for f in fields
            if not torch.allclose(getattr(a, f), getattr(b, f), rtol=0.0, atol=0.0, equal_nan=True)]


def _determinism_check(model: ObjectCentricModel, images: Tensor, seed: int) -> CheckResult:
    try:
        with torch.no_grad():
            first, second = _forward(model, images, seed), _forward(model, images, seed)
    except Exception as exc:  # noqa: BLE001
        return CheckResult("determinism", FAIL, _raised(exc))
    differ = _same(first, second)
    if differ:
        return CheckResult("determinism", FAIL, f"{', '.join(differ)} differ between two forwards with the same "
                           "generator seed (draw all noise from the `generator` argument)")
    return CheckResult("determinism", PASS, f"generator seed {seed}, bit-identical outputs")


def _roundtrip_check(model: ObjectCentricModel, images: Tensor, seed: int) -> CheckResult:
    from emorl_eval import models
    from emorl_eval.models.checkpoints import save_checkpoint

    with tempfile.TemporaryDirectory(prefix="emorl-check-") as tmp:
        path = Path(tmp) / "checkpoint.pt"
        try:
            save_checkpoint(path, model, step=0)
            loaded = models.load(path)
        except Exception as exc:  # noqa: BLE001
            return CheckResult("checkpoint round trip", FAIL, _raised(exc))
        size = path.stat().st_size
    if loaded.config_dict() != model.config_dict():
        return CheckResult("checkpoint round trip", FAIL, "the reloaded config differs from the saved one")
    try:
        with torch.no_grad():
            differ = _same(_forward(model, images, seed), _forward(loaded, images, seed))
    except Exception as exc:  # noqa: BLE001
        return CheckResult("checkpoint round trip", FAIL, f"reloaded model {_raised(exc)}")
    if differ:
        return CheckResult("checkpoint round trip", FAIL, f"the reloaded model's {', '.join(differ)} differ "
                           "(state kept outside parameters and buffers?)")
    from emorl_eval.models import plugin_spec

    spec = plugin_spec(model)
    return CheckResult("checkpoint round trip", PASS, f"{size / 1e3:.0f} kB, outputs identical"
                       + (f"; records plug-in {spec}" if spec else ""))


def _decode_check(model: ObjectCentricModel, latents: Tensor) -> CheckResult:
    try:
        with torch.no_grad():
            scene = model.decode(latents)
    except Exception as exc:  # noqa: BLE001
        return CheckResult("decode", FAIL, _raised(exc))
    return _verdict("decode", _scene_problems(model, scene, latents.shape[0]), f"latents {list(latents.shape)}")


def _prior_check(model: ObjectCentricModel, n: int, seed: int) -> CheckResult:
    expected = (n, model.num_slots, model.latent_dim)
    try:
        with torch.no_grad():
            z = model.sample_prior(n, generator=torch.Generator().manual_seed(seed))
            again = model.sample_prior(n, generator=torch.Generator().manual_seed(seed))
            if not isinstance(z, Tensor) or tuple(z.shape) != expected:
                shape = list(z.shape) if isinstance(z, Tensor) else type(z).__name__
                return CheckResult("sample_prior", FAIL, f"returned {shape}, expected {list(expected)}")
            if not bool(torch.isfinite(z).all()):
                return CheckResult("sample_prior", FAIL, "non-finite latents")
            if not torch.equal(z, again):
                return CheckResult("sample_prior", FAIL, "two draws with the same generator seed differ")
            scene = model.decode(z)
    except Exception as exc:  # noqa: BLE001
        return CheckResult("sample_prior", FAIL, _raised(exc))
    problems = _scene_problems(model, scene, n)
    return _verdict("sample_prior", [f"decoding its draws: {p}" for p in problems], f"{list(expected)}, decodable")


def _symmetry_rows(model: ObjectCentricModel, seeds: list[int], generic: bool) -> list[CheckResult]:
    from emorl_eval import symmetry as sym
    from emorl_eval.errors import ConfigError

    checked = sym.generic_weights(model, seed=seeds[0]) if generic else model
    try:
        table = sym.check_model(checked, seeds=seeds)
    except ConfigError:
        return [CheckResult("symmetry", SKIP, "the model exposes no probes (optional: equivariance_probes, input_order_probe)")]
    except Exception as exc:  # noqa: BLE001
        return [CheckResult("symmetry", FAIL, f"a probe {_raised(exc)}")]
    rows = []
    for (component, prop), group in table.groupby(["component", "property"], sort=False):
        claimed = bool(group["claimed"].iloc[0])
        worst = group.loc[(group["max_abs_dev"] / group["tolerance"]).idxmax()]
        outputs = ", ".join(group["output"])
        detail = f"{outputs}: worst {worst['output']} rel. dev. {worst['rel_dev']:.2g}"
        if not claimed:
            held = bool(group["passed"].all())
            rows.append(CheckResult(f"symmetry: {component} {prop}", INFO,
                                    f"not claimed by the model ({'holds' if held else 'violated'}); {detail}"))
            continue
        bad = group[~group["passed"]]
        if len(bad):
            rows.append(CheckResult(f"symmetry: {component} {prop}", FAIL,
                                    f"violated by {', '.join(bad['output'])}; {detail}"))
            continue
        if "informative" in group and not bool(group["informative"].fillna(True).all()):
            detail += " (uninformative: slots nearly identical at these weights; try --generic-weights)"
        rows.append(CheckResult(f"symmetry: {component} {prop}", PASS, detail))
    return rows


def run_checks(
    model: ObjectCentricModel,
    batch_size: int = 2,
    seed: int = 0,
    symmetry: bool = True,
    symmetry_seeds: list[int] | None = None,
    generic_weights: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Run the conformance suite on ``model`` (see the module docstring).

    Args:
        model: the model under test; it is left in eval mode with no gradients.
        batch_size: B of the random test images ``[B, 3, H, W]`` at the model's image size.
        seed: seeds the test images and every generator.
        symmetry: also run the model's symmetry probes.
        symmetry_seeds: seeds of the symmetry checks (default ``[seed]``).
        generic_weights: run the symmetry probes on a copy with redrawn weights.
        progress: called with each check's name before it runs.
    """
    say = progress or (lambda name: None)
    h, w = model.image_size
    images = torch.rand((batch_size, 3, h, w), generator=torch.Generator().manual_seed(seed))
    try:
        images = images.to(next(model.parameters()).device)
    except StopIteration:
        pass
    say("forward")
    rows, out = _output_checks(model, images, seed)
    say("loss and gradients")
    rows.append(_gradient_check(model, images, seed))
    say("determinism")
    rows.append(_determinism_check(model, images, seed))
    if out is None:
        rows.append(CheckResult("checkpoint round trip", SKIP, "forward failed or has wrong shapes"))
        rows.append(CheckResult("decode", SKIP, "no latents (forward failed or has wrong shapes)"))
    else:
        say("checkpoint round trip")
        rows.append(_roundtrip_check(model, images, seed))
        say("decode")
        rows.append(_decode_check(model, out.latents))
    say("sample_prior")
    rows.append(_prior_check(model, batch_size, seed))
    if symmetry:
        say("symmetry")
        rows += _symmetry_rows(model, symmetry_seeds or [seed], generic_weights)
    model.eval()
    return rows


def to_frame(rows: list[CheckResult]) -> pd.DataFrame:
    """The results as a table: columns ``check, status, detail``."""
    return pd.DataFrame([{"check": r.check, "status": r.status, "detail": r.detail} for r in rows],
                        columns=["check", "status", "detail"])


def format_table(rows: list[CheckResult]) -> str:
    """Left-aligned plain-text table ``check | status | detail`` for the terminal."""
    width = max([len("check")] + [len(r.check) for r in rows])
    lines = [f"{'check'.ljust(width)}  status  detail"]
    lines += [f"{r.check.ljust(width)}  {r.status.ljust(6)}  {r.detail or '-'}" for r in rows]
    return "\n".join(lines)


def failed(rows: list[CheckResult]) -> list[CheckResult]:
    """The rows with status ``FAIL``."""
    return [r for r in rows if r.status == FAIL]
