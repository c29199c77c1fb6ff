r"""Leakage: how much of the image change caused by one slot's latent falls outside that slot.

Appendix B / Figure 11 shows that varying one latent dimension of one GENESIS component changes
the whole scene, while an EfficientMORL slot can be manipulated independently. This module makes
that a number.

Definition. For an image x let ``z in R^{K x D}`` be the model's ``latents`` (EfficientMORL: the
final posterior means), decoded by ``model.decode`` to a reconstruction ``r(z) [3, H, W]`` and
masks ``m(z) [K, H, W]`` (normalised over K); the reference is this decode of the unperturbed
latents (not the forward's reconstruction, which may come from a posterior sample). For slot k, dimension d and S values
``v_1..v_S`` evenly spaced in ``[lo_d, hi_d]`` (min and max of dimension d over all slots of the
``range`` images, appendix E.2), let ``z^s`` be z with ``z_{k,d} = v_s``, and per pixel p

    delta_s(p) = sum_c | r_c(z^s)(p) - r_c(z)(p) |             (absolute change, summed over RGB)
    own_s(p)   = max( m_k(z)(p), m_k(z^s)(p) )                  (slot k's region before or after)

    leak(x, k, d) = sum_s sum_p (1 - own_s(p)) * delta_s(p)  /  sum_s sum_p delta_s(p)

i.e. the fraction of the total change that lies outside slot k's own (soft) mask; taking the
union of the masks before and after means that an object that moves or grows is not counted as
leaking into the pixels it moves into. ``leak`` lies in [0, 1]. A triple (x, k, d) whose mean
absolute change ``change = sum_s sum_p delta_s(p) / (3 H W S)`` is below ``min_change`` times the
largest ``change`` of all triples (or below 1e-7 absolute) is excluded: it is an inactive,
collapsed dimension whose ratio is numerical noise. The score is the mean of ``leak`` over the
included triples (images x slots x dimensions); per-slot means and the number of included
triples are reported beside it. 0 = each slot only changes its own pixels; values near
``(K-1)/K`` = changes spread over the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from emorl_eval.reports.grids import save_grid, to_hwc
from emorl_eval.reports.inference import Inferred, decode, infer, latent_range, pick_dims

#: changes (mean absolute, per pixel-channel and value) below this are numerically zero
ABS_FLOOR = 1e-7


@dataclass
class LeakageResult:
    """Attributes:
        per_triple: one row per (image, slot, dim): ``image, slot, dim, change, leak, included``
            (``slot`` numbered from 1 as in the figures and ``--slot``; ``image`` and ``dim`` are
            0-based indices; ``change`` is the mean absolute change per pixel-channel and value,
            in [0, 1] image units).
        score: mean ``leak`` over included triples (NaN if none).
        per_slot: mean ``leak`` per slot (index: slot numbered from 1) over included triples.
        n_included: number of included triples.
        max_change: the largest mean absolute change of any triple (how strongly the latents
            act on the image at all; tiny for an untrained or collapsed model).
    """

    per_triple: pd.DataFrame
    score: float
    per_slot: pd.Series
    n_included: int
    max_change: float = float("nan")
    bounds: tuple[Tensor, Tensor] | None = None  # per-dimension (min, max) used, ``[D]`` each

    def summary(self) -> pd.DataFrame:
        """One row: ``leakage, n_included, n_triples, leakage_slot<k>...``."""
        row = {"leakage": self.score, "n_included": self.n_included, "n_triples": len(self.per_triple),
               "max_change": self.max_change}
        row.update({f"leakage_slot{int(k)}": float(v) for k, v in self.per_slot.items()})
        return pd.DataFrame([row])


def leakage_terms(recon0: Tensor, masks0: Tensor, slot: int, recon: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """Outside-change and total change for S traversal values of one slot.

    Args:
        recon0: ``[3, H, W]`` unperturbed reconstruction; masks0: ``[K, 1, H, W]``.
        recon: ``[S, 3, H, W]`` perturbed reconstructions; masks: ``[S, K, 1, H, W]``.
    Returns:
        (outside ``[S]``, total ``[S]``): ``sum_p (1 - own_s(p)) delta_s(p)`` and ``sum_p delta_s(p)``.
    """
    delta = (recon - recon0[None]).abs().sum(1)  # [S, H, W]
    own = torch.maximum(masks0[slot, 0][None], masks[:, slot, 0])  # [S, H, W]
    return ((1 - own) * delta).flatten(1).sum(1), delta.flatten(1).sum(1)


def measure_leakage(model, images: Tensor, range_images: Tensor | None = None, dims_per_slot: int = 4,
                    steps: int = 5, min_change: float = 0.01, refinement_steps: int | None = None,
                    seed: int = 0, device: str = "cpu", progress: bool = False) -> LeakageResult:
    """Leakage (module docstring) over ``images [N, 3, H, W]``, all K slots and the
    ``dims_per_slot`` widest-ranging dimensions (all dimensions when ``dims_per_slot <= 0``).

    ``range_images`` (default ``images``) give the per-dimension traversal range."""
    out: Inferred = infer(model, images, refinement_steps=refinement_steps, seed=seed, device=device)
    ref = out if range_images is None else infer(model, range_images, refinement_steps=refinement_steps,
                                                 seed=seed, device=device)
    lo, hi = latent_range(ref.latents)
    n, k, d_total = out.latents.shape
    dims = pick_dims(lo, hi, dims_per_slot if dims_per_slot > 0 else d_total)
    values = [lo[d] + torch.linspace(0, 1, steps) * (hi[d] - lo[d]) for d in dims]
    # the reference is the decode of the unperturbed latents, not the forward's reconstruction,
    # which may be decoded from a posterior sample rather than from the means
    base_recon, base_masks, _ = decode(model, out.latents, device=device)
    _, _, h, w = base_recon.shape
    rows = []
    from tqdm import tqdm

    per_slot_count = len(dims) * steps
    for i in tqdm(range(n), desc="leakage", disable=not progress, leave=False):
        # every (slot, dim, value) perturbation of image i, decoded in one batch
        z = out.latents[i].repeat(k * per_slot_count, 1, 1)  # [K*len(dims)*S, K, D]
        for slot in range(k):
            for j, d in enumerate(dims):
                start = slot * per_slot_count + j * steps
                z[start:start + steps, slot, d] = values[j]
        recon, masks, _ = decode(model, z, device=device)
        for slot in range(k):
            for j, d in enumerate(dims):
                sl = slice(slot * per_slot_count + j * steps, slot * per_slot_count + (j + 1) * steps)
                outside, tot = leakage_terms(base_recon[i], base_masks[i], slot, recon[sl], masks[sl])
                change = float(tot.sum()) / (3 * h * w * steps)
                leak = float(outside.sum() / tot.sum()) if float(tot.sum()) > 0 else float("nan")
                rows.append({"image": i, "slot": slot + 1, "dim": d, "change": change, "leak": leak})
    df = pd.DataFrame(rows)
    threshold = max(ABS_FLOOR, min_change * float(df["change"].max()))
    df["included"] = df["change"] >= threshold
    inc = df[df["included"]]
    score = float(inc["leak"].mean()) if len(inc) else float("nan")
    per_slot = inc.groupby("slot")["leak"].mean() if len(inc) else pd.Series(dtype=float)
    return LeakageResult(per_triple=df, score=score, per_slot=per_slot, n_included=int(len(inc)),
                         max_change=float(df["change"].max()), bounds=(lo, hi))


def change_row_label(scale: float) -> str:
    """Label of a change-map row, its colour key: full red/green = ``scale``, the row's largest
    per-pixel change ``|dR| + |dG| + |dB|`` (image values in [0, 1], so at most 3)."""
    return f"change per pixel\n|dR|+|dG|+|dB|\nfull = {scale:.2g} of 3\nred out, green in"


def leakage_figure(model, image: Tensor, path: str | Path, range_images: Tensor | None = None,
                   steps: int = 5, candidate_dims: int = 8, refinement_steps: int | None = None, seed: int = 0,
                   cell_px: int = 80, device: str = "cpu", bounds: tuple[Tensor, Tensor] | None = None) -> Path:
    """Traversal rows for one ``image [3, H, W]``: for each slot k two rows: the decoded images
    while the slot's most image-changing dimension (of the ``candidate_dims`` widest-ranging
    ones) goes from min to max, and the change maps
    with change inside the slot's own region in green and outside (leakage) in red, full colour
    at the row's largest per-pixel change ``|dR| + |dG| + |dB|`` (its label gives that value and
    unit: the row's colour key; the table's ``max_change`` is a mean per pixel-channel instead). The first
    column is the unperturbed reconstruction (and, below it, slot k's mask). The traversal range
    is ``bounds`` (e.g. ``LeakageResult.bounds``) or else the min/max over ``range_images``. The PNG is
    ``LABEL_PX + (1 + steps) * cell_px`` by ``TITLE_PX + 2 K cell_px`` pixels."""
    out = infer(model, image[None], refinement_steps=refinement_steps, seed=seed, device=device)
    if bounds is None:  # per-dimension range over range_images (or the image itself)
        ref = infer(model, image[None] if range_images is None else range_images,
                    refinement_steps=refinement_steps, seed=seed, device=device)
        bounds = latent_range(ref.latents)
    lo, hi = bounds
    _, k, d_total = out.latents.shape
    base_recon, base_masks, _ = decode(model, out.latents, device=device)
    candidates = torch.tensor(pick_dims(lo, hi, candidate_dims if candidate_dims > 0 else d_total))
    fractions = torch.linspace(0, 1, steps)
    cells, labels = [], []
    for slot in range(k):
        # try the candidates at their extremes and keep the one that changes the image most
        n_c = len(candidates)
        z = out.latents[0].repeat(2 * n_c, 1, 1)
        z[torch.arange(n_c), slot, candidates] = lo[candidates]
        z[n_c + torch.arange(n_c), slot, candidates] = hi[candidates]
        recon, _, _ = decode(model, z, device=device)
        change = (recon - base_recon[0][None]).abs().flatten(1).sum(1).view(2, n_c).sum(0)
        d = int(candidates[int(change.argmax())])
        z = out.latents[0].repeat(steps, 1, 1)
        z[:, slot, d] = lo[d] + fractions * (hi[d] - lo[d])
        recon, masks, _ = decode(model, z, device=device)
        delta = (recon - base_recon[0][None]).abs().sum(1)  # [S, H, W]
        own = torch.maximum(base_masks[0, slot, 0][None], masks[:, slot, 0])
        scale = float(delta.max()) or 1.0
        maps = torch.stack([(1 - own) * delta, own * delta, torch.zeros_like(delta)], 1) / scale
        cells.append([to_hwc(base_recon[0])] + [to_hwc(recon[s]) for s in range(steps)])
        cells.append([to_hwc(base_masks[0, slot])] + [to_hwc(maps[s]) for s in range(steps)])
        labels += [f"slot {slot + 1}\ndim {d}", change_row_label(scale)]
    titles = ["recon"] + ["min" if s == 0 else "max" if s == steps - 1 else "" for s in range(steps)]
    return save_grid(cells, path, cell_px=cell_px, col_titles=titles, row_labels=labels)

