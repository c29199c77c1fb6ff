"""The paper's qualitative figures from any model behind the common interface.

* :func:`decompose_figure` (Figures 16-18): per image, the image, the reconstruction, the masks
  (each pixel coloured by its argmax slot) and each slot's masked component ``m_k * y_k`` on
  white.
* :func:`traverse_figure` (Figures 19-21): one slot of one image; each row varies one latent
  dimension linearly between its minimum and maximum over ``range_images`` images (all slots)
  and shows the decoded image.
* :func:`stages_figure` (Figure 15): for one image, per inference stage (stochastic layers,
  refinement steps, iterations), the input image, the decoded reconstruction, mask argmax, the K
  masks and, where the model exposes it, the K attention maps (``forward(..., decode_stages=True)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from emorl_eval.errors import ConfigError
from emorl_eval.reports.grids import colour_argmax, save_grid, to_hwc
from emorl_eval.reports.inference import check_size, decode, infer, latent_range, pick_dims, pick_slot


def masked_component(mask: Tensor, component: Tensor) -> np.ndarray:
    """``mask [1, H, W] * component [3, H, W]`` on a white background -> ``[H, W, 3]``."""
    return to_hwc(mask * component + (1 - mask))


def decompose_figure(model, images: Tensor, path: str | Path, refinement_steps: int | None = None,
                     seed: int = 0, cell_px: int = 96, device: str = "cpu") -> Path:
    """Figures 16-18 for ``images [N, 3, H, W]``: N rows of ``3 + K`` columns.

    The PNG is ``(3 + K) * cell_px`` wide and ``TITLE_PX + N * cell_px`` high."""
    out = infer(model, images, refinement_steps=refinement_steps, seed=seed, device=device)
    k = out.masks.shape[1]
    cells = []
    for i in range(len(images)):
        row = [to_hwc(images[i]), to_hwc(out.recon[i]), colour_argmax(out.masks[i])]
        row += [masked_component(out.masks[i, j], out.components[i, j]) for j in range(k)]
        cells.append(row)
    titles = ["image", "recon", "masks"] + [f"slot {j + 1}" for j in range(k)]
    return save_grid(cells, path, cell_px=cell_px, col_titles=titles)


def traverse_figure(model, images: Tensor, path: str | Path, image_index: int = 0, slot: int | None = None,
                    dims: list[int] | None = None, num_dims: int = 6, steps: int = 7,
                    refinement_steps: int | None = None, seed: int = 0, cell_px: int = 64,
                    device: str = "cpu") -> tuple[Path, dict]:
    """Figures 19-21: latent traversals of one slot.

    Args:
        images: ``[N, 3, H, W]``; the latent range is taken over all N images (the paper uses
            100), the traversed scene is ``images[image_index]``.
        slot: slot to vary (default :func:`pick_slot`: the second-largest mask).
        dims: dimensions to vary (default the ``num_dims`` widest-ranging ones).
        steps: values per dimension, evenly spaced from min to max.

    Returns:
        (path, info) with ``info = {"slot", "dims", "min", "max"}``. The PNG has one row per
        dimension and ``1 + steps`` columns (the decode of the scene's unperturbed latents, then
        the traversal):
        ``LABEL_PX + (1 + steps) * cell_px`` by ``TITLE_PX + len(dims) * cell_px`` pixels.
    """
    out = infer(model, images, refinement_steps=refinement_steps, seed=seed, device=device)
    lo, hi = latent_range(out.latents)
    d_total = out.latents.shape[-1]
    slot = pick_slot(out.masks[image_index]) if slot is None else slot
    if not 0 <= slot < out.latents.shape[1]:
        raise ConfigError(f"--slot {slot + 1}: the model has slots 1..{out.latents.shape[1]}")
    dims = pick_dims(lo, hi, num_dims) if dims is None else dims
    for d in dims:
        if not 0 <= d < d_total:
            raise ConfigError(f"--dims: dimension {d} out of range (latent size {d_total})")
    z0 = out.latents[image_index]
    fractions = torch.linspace(0, 1, steps)
    batch = []
    for d in dims:
        for f in fractions:
            z = z0.clone()
            z[slot, d] = lo[d] + f * (hi[d] - lo[d])
            batch.append(z)
    recon, _, _ = decode(model, torch.stack([z0] + batch), device=device)
    base, recon = recon[0], recon[1:]  # the decode of the unperturbed latents, then the traversal
    cells = []
    for r, d in enumerate(dims):
        row = [to_hwc(base)]
        row += [to_hwc(recon[r * steps + s]) for s in range(steps)]
        cells.append(row)
    titles = ["recon"] + ["min" if s == 0 else "max" if s == steps - 1 else "" for s in range(steps)]
    labels = [f"slot {slot + 1}\ndim {d}" for d in dims]
    path = save_grid(cells, path, cell_px=cell_px, col_titles=titles, row_labels=labels)
    info = {"slot": slot, "dims": dims, "min": [float(lo[d]) for d in dims], "max": [float(hi[d]) for d in dims]}
    return path, info


def stages_figure(model, image: Tensor, path: str | Path, refinement_steps: int | None = None,
                  seed: int = 0, cell_px: int = 64, device: str = "cpu") -> tuple[Path, list[str]]:
    """Figure 15 for one ``image [3, H, W]``: one row per stage of ``forward(decode_stages=True)``
    with columns input (the image, repeated on every row so each stage's reconstruction sits beside
    it), recon, mask argmax, mask 1..K and, if any stage has attention, attention 1..K (blank
    where a stage lacks the item). Returns (path, stage names); the PNG is
    ``LABEL_PX + (3 + K [+ K]) * cell_px`` by ``TITLE_PX + S * cell_px`` pixels."""
    x = image[None].to(device)
    check_size(model, x)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():  # refining models enable gradients internally (docs/contracts.md)
        out = model(x, refinement_steps=refinement_steps, generator=generator, decode_stages=True)
    stages = list(out.stages)
    if not stages:
        raise ConfigError(f"{type(model).__name__} reports no inference stages")
    k = out.masks.shape[1]
    has_attention = any(s.attention is not None for s in stages)
    cells = []
    for s in stages:
        row: list[np.ndarray | None] = [to_hwc(image), to_hwc(s.recon[0]) if s.recon is not None else None]
        if s.masks is not None:
            masks = s.masks[0].detach()
            row.append(colour_argmax(masks))
            row += [to_hwc(masks[j]) for j in range(k)]
        else:
            row += [None] * (1 + k)
        if has_attention:
            if s.attention is not None:
                att = s.attention[0].detach()  # normalised over K, shown like the masks
                row += [to_hwc(att[j]) for j in range(k)]
            else:
                row += [None] * k
        cells.append(row)
    titles = ["input", "recon", "masks"] + [f"mask {j + 1}" for j in range(k)]
    if has_attention:
        titles += [f"attn {j + 1}" for j in range(k)]
    names = [s.name for s in stages]
    return save_grid(cells, path, cell_px=cell_px, col_titles=titles, row_labels=names), names
