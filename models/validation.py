"""Runtime checks of the interface contract on a model's outputs.

Every call ``model(images, ...)`` of an :class:`~emorl_eval.models.interface.ObjectCentricModel`
passes its :class:`~emorl_eval.models.interface.ModelOutput` through :func:`check_output`, so a
plug-in that returns wrong shapes, masks that do not sum to 1, or NaNs is refused with one line
(:class:`emorl_eval.errors.ModelError`) by every command instead of producing silent garbage or a
traceback deep in a metric. ``emorl-eval check-model`` reports the same problems as a table
(:func:`output_problems`).

Finiteness is checked in eval mode only: in training a non-finite loss is the trainer's to report
(it names the last good checkpoint).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: |sum over K of the masks - 1| allowed at any pixel
MASK_SUM_ATOL = 1e-3
#: |recon - sum_k masks_k * components_k| allowed, plus this fraction of max |recon|
RECON_ATOL = 1e-3


def _shape(x: Any) -> str:
    return str(list(x.shape)) if isinstance(x, Tensor) else type(x).__name__


#: the fields of ModelOutput the contract fixes, in reporting order
CHECKED_FIELDS = ("loss", "nll", "kl", "recon", "masks", "components", "latents")


def expected_shapes(model: Any, images: Tensor) -> dict[str, tuple[int, ...]]:
    """Field -> shape the contract asks of a forward on ``images [B, 3, H, W]``."""
    b, _, h, w = images.shape
    k, d = model.num_slots, model.latent_dim
    return {"loss": (), "nll": (b,), "kl": (b,), "recon": (b, 3, h, w), "masks": (b, k, 1, h, w),
            "components": (b, k, 3, h, w), "latents": (b, k, d)}


def shape_problems(model: Any, images: Tensor, out: Any) -> list[str]:
    """Fields of ``out`` whose type or shape is wrong (or that ``out`` is no ModelOutput)."""
    from emorl_eval.models.interface import ModelOutput

    if not isinstance(out, ModelOutput):
        return [f"forward returned a {type(out).__name__}, not a ModelOutput"]
    problems = []
    for name, shape in expected_shapes(model, images).items():
        value = getattr(out, name)
        if not isinstance(value, Tensor) or tuple(value.shape) != shape:
            problems.append(f"{name} is {_shape(value)}, expected {list(shape)}")
    return problems


def finite_problems(values: dict[str, Tensor]) -> list[str]:
    """Named tensors that hold NaN or inf."""
    problems = []
    for name, value in values.items():
        bad = ~torch.isfinite(value.detach())
        if bool(bad.any()):
            problems.append(f"{name} has non-finite values ({int(bad.sum())} NaN/inf)")
    return problems


def mask_problems(masks: Tensor) -> list[str]:
    """Masks ``[B, K, 1, H, W]`` that are negative or do not sum to 1 over K."""
    masks = masks.detach()
    if not bool(torch.isfinite(masks).all()):
        return []  # reported by finite_problems
    problems = []
    if float(masks.min()) < -MASK_SUM_ATOL:
        problems.append(f"masks are negative (min {float(masks.min()):.3g})")
    err = float((masks.sum(dim=1) - 1).abs().max())
    if err > MASK_SUM_ATOL:
        problems.append(f"masks do not sum to 1 over the K slots (max |sum - 1| = {err:.3g})")
    return problems


def recon_problems(masks: Tensor, components: Tensor, recon: Tensor) -> list[str]:
    """A ``recon [B, 3, H, W]`` that is not the sum over K of ``masks * components``."""
    with torch.no_grad():
        mixed = (masks.detach() * components.detach()).sum(dim=1)
        gap = (mixed - recon.detach()).abs()
        if not bool(torch.isfinite(gap).all()):
            return []  # reported by finite_problems
        worst = float(gap.max())
        if worst > RECON_ATOL * (1 + float(recon.detach().abs().max())):
            return [f"recon is not the sum of masks x components (max |difference| = {worst:.3g})"]
    return []


def output_problems(model: Any, images: Tensor, out: Any, check_finite: bool = True) -> list[str]:
    """Every way ``out`` breaks the contract for input ``images [B, 3, H, W]``, as short phrases
    (empty when the output conforms).

    Checked: ``loss`` scalar; ``nll``, ``kl`` ``[B]``; ``recon [B, 3, H, W]``; ``masks
    [B, K, 1, H, W]`` non-negative and summing to 1 over K; ``components [B, K, 3, H, W]``;
    ``recon`` = sum over K of ``masks * components``; ``latents [B, K, D]`` with K =
    ``model.num_slots`` and D = ``model.latent_dim``; with ``check_finite``, no NaN/inf anywhere.
    """
    problems = shape_problems(model, images, out)
    if problems:
        return problems  # the value checks below need the right shapes
    if check_finite:
        problems = finite_problems({name: getattr(out, name) for name in CHECKED_FIELDS})
        if problems:
            return problems
    return mask_problems(out.masks) + recon_problems(out.masks, out.components, out.recon)


def check_output(model: Any, images: Tensor, out: Any) -> None:
    """Raise :class:`emorl_eval.errors.ModelError` (one line naming the model) when ``out``
    breaks the contract; finiteness is checked only when the model is in eval mode."""
    from emorl_eval.errors import ModelError

    if not isinstance(images, Tensor) or images.dim() != 4:
        return  # nothing to check shapes against (the model raised or accepted it itself)
    problems = output_problems(model, images, out, check_finite=not model.training)
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise ModelError(f"model {name!r} broke the output contract: {'; '.join(problems)} "
                         f"(run `emorl-eval check-model` on it for the full report)")
