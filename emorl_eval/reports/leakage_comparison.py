"""Leakage of several models on the same images with the same traversal settings (appendix B).

The paper's central comparison (Figure 11: varying one GENESIS component latent changes the whole
scene, an EfficientMORL slot changes only its object) as one table and one figure: every model is
measured by :func:`emorl_eval.reports.leakage.measure_leakage` on the same ``images``, the same
``range_images`` (each model's own latent range over them), the same number of dimensions per slot,
traversal values and inclusion threshold. A model's score is the mean leak over its included
(image, slot, dimension) triples; the figure also shows the per-image means, so the spread across
scenes is visible, and each model's chance level ``(K - 1) / K`` (a change spread evenly over the
image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from torch import Tensor

from emorl_eval.reports.leakage import LeakageResult, measure_leakage


@dataclass
class LeakageComparison:
    """Attributes:
        summary: one row per model, in the order given: ``label, model, K, leakage,
            leakage_image_std`` (std over images of the per-image mean leak), ``chance``
            (``(K-1)/K``), ``n_included, n_triples, max_change, leakage_slot<k>...``.
        per_triple: every model's per-triple rows with a ``label`` column.
        settings: the traversal settings every model was measured with.
    """

    summary: pd.DataFrame
    per_triple: pd.DataFrame
    settings: dict[str, Any]


def per_image_leak(result: LeakageResult) -> pd.Series:
    """Mean leak over each image's included triples (index: image)."""
    inc = result.per_triple[result.per_triple["included"]]
    return inc.groupby("image")["leak"].mean()


def compare_leakage(models: dict[str, Any], images: Tensor, range_images: Tensor | None = None,
                    dims_per_slot: int = 4, steps: int = 5, min_change: float = 0.01, seed: int = 0,
                    device: str = "cpu", progress: bool = False) -> LeakageComparison:
    """Leakage of each model of ``models`` (label -> model in eval mode) on ``images [N, 3, H, W]``
    with the same settings (:func:`~emorl_eval.reports.leakage.measure_leakage`; each model uses
    its configured test-time refinement)."""
    rows, triples = [], []
    for label, model in models.items():
        result = measure_leakage(model, images, range_images=range_images, dims_per_slot=dims_per_slot,
                                 steps=steps, min_change=min_change, seed=seed, device=device,
                                 progress=progress)
        k = int(model.num_slots)
        per_image = per_image_leak(result)
        summary = result.summary().iloc[0].to_dict()
        row = {"label": label, "model": getattr(model, "model_name", type(model).__name__), "K": k,
               "leakage": result.score,
               "leakage_image_std": float(per_image.std(ddof=0)) if len(per_image) else float("nan"),
               "chance": (k - 1) / k}
        row.update({key: value for key, value in summary.items() if key != "leakage"})
        rows.append(row)
        triples.append(result.per_triple.assign(label=label))
    settings = {"images": int(images.shape[0]),
                "range_images": int(images.shape[0] if range_images is None else range_images.shape[0]),
                "dims_per_slot": dims_per_slot, "steps": steps, "min_change": min_change, "seed": seed}
    per_triple = pd.concat(triples, ignore_index=True) if triples else pd.DataFrame()
    return LeakageComparison(pd.DataFrame(rows), per_triple, settings)


def comparison_figure(comparison: LeakageComparison, path: str | Path) -> Path:
    """One bar per model (its leakage score), the per-image means as points and a dashed tick at
    the model's chance level ``(K-1)/K``; y in [0, 1]."""
    from emorl_eval.figure_files import pyplot, save_figure

    summary, triples = comparison.summary, comparison.per_triple
    plt = pyplot()
    n = len(summary)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * n + 2.0), 4.2))
    for i, row in enumerate(summary.itertuples()):
        inc = triples[(triples["label"] == row.label) & triples["included"]]
        points = inc.groupby("image")["leak"].mean()
        ax.bar(i, row.leakage, color="0.82", edgecolor="0.4", width=0.6)
        jitter = [((j * 0.37) % 1.0 - 0.5) * 0.3 for j in range(len(points))]
        ax.scatter([i + x for x in jitter], points.values, s=14, color="C0", zorder=3,
                   label="one image (mean over its slots and dims)" if i == 0 else None)
        ax.plot([i - 0.35, i + 0.35], [row.chance, row.chance], "--", color="C3",
                label="chance (K-1)/K: change spread evenly" if i == 0 else None)
        if row.leakage == row.leakage:  # not NaN
            ax.text(i, min(row.leakage + 0.03, 0.97), f"{row.leakage:.2f}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(n))
    ax.set_xticklabels([str(label) for label in summary["label"]], rotation=20, ha="right", fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_ylabel("leakage (fraction of change outside the slot)", fontsize=9)
    s = comparison.settings
    ax.set_xlabel(f"model ({s['images']} images, {s['dims_per_slot']} dims per slot, {s['steps']} values)",
                  fontsize=9)
    ax.tick_params(axis="y", labelsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
