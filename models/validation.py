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


def output_problems(model: Any, images: Tensor, out: Any, check_finite: bool = True) -> list[str]:
    """Every way ``out`` breaks the contract for input ``images [B, 3, H, W]``, as short phrases
    (empty when the output conforms).

    Checked: ``loss`` scalar; ``nll``, ``kl`` ``[B]``; ``recon [B, 3, H, W]``; ``masks
    [B, K, 1, H, W]`` non-negative and summing to 1 over K; ``components [B, K, 3, H, W]``;
    ``recon`` = sum over K of ``masks * components``; ``latents [B, K, D]`` with K =
    ``model.num_slots`` and D = ``model.latent_dim``; with ``check_finite``, no NaN/inf anywhere.
    """
    from emorl_eval.models.interface import ModelOutput

    if not isinstance(out, ModelOutput):
        return [f"forward returned a {type(out).__name__}, not a ModelOutput"]
    b, _, h, w = images.shape
    k, d = model.num_slots, model.latent_dim
    expected = {"loss": (), "nll": (b,), "kl": (b,), "recon": (b, 3, h, w), "masks": (b, k, 1, h, w),
                "components": (b, k, 3, h, w), "latents": (b, k, d)}
    problems = []
    for name, shape in expected.items():
        value = getattr(out, name)
        if not isinstance(value, Tensor) or tuple(value.shape) != shape:
            problems.append(f"{name} is {_shape(value)}, expected {list(shape)}")
    if problems:
        return problems  # the value checks below need the right shapes
    with torch.no_grad():
        masks, recon = out.masks.detach(), out.recon.detach()
        if check_finite:
            for name in expected:
                value = getattr(out, name).detach()
                if not bool(torch.isfinite(value).all()):
                    problems.append(f"{name} has non-finite values ({int((~torch.isfinite(value)).sum())} NaN/inf)")
            if problems:
                return problems
        if bool(torch.isfinite(masks).all()):
            if float(masks.min()) < -MASK_SUM_ATOL:
                problems.append(f"masks are negative (min {float(masks.min()):.3g})")
            err = float((masks.sum(dim=1) - 1).abs().max())
            if err > MASK_SUM_ATOL:
                problems.append(f"masks do not sum to 1 over the K slots (max |sum - 1| = {err:.3g})")
            mixed = (masks * out.components.detach()).sum(dim=1)
            gap = float((mixed - recon).abs().max())
            if gap > RECON_ATOL * (1 + float(recon.abs().max())):
                problems.append(f"recon is not the sum of masks x components (max |difference| = {gap:.3g})")
    return problems


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
