"""The refinement-sweep figure (appendix D, Figure 14): ARI, MSE and KL against the number of
test-time refinement steps I, mean over images with a 95% bootstrap interval."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PANELS: tuple[tuple[str, str], ...] = (("ari_fg", "ARI (fg, 0-1)"), ("mse", "MSE (per pixel-channel, [0, 1] scale)"),
                                       ("kl", "KL (nats per image)"))


def refinement_figure(long: pd.DataFrame, path: str | Path, title: str | None = None, seed: int = 0) -> Path:
    """Write a 3-panel seaborn line plot of a ``refinement_sweep`` table to ``path`` (PNG).

    Args:
        long: rows ``refinement_steps, metric, value`` (one per image, metric and I).
        path: output PNG; parent folders are created.
        title: figure title (e.g. model, dataset and checkpoint).
        seed: seed of the bootstrap that draws the 95% intervals (deterministic figure).
    """
    import seaborn as sns

    from emorl_eval.figure_files import pyplot, save_figure

    plt = pyplot()

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.6), squeeze=False)
    for ax, (metric, label) in zip(axes[0], PANELS):
        data = long[long["metric"] == metric]
        sns.lineplot(data=data, x="refinement_steps", y="value", errorbar=("ci", 95), n_boot=1000, seed=seed,
                     marker="o", ax=ax)
        ax.set_xlabel("refinement steps I")
        ax.set_ylabel(label)
        ax.set_xticks(sorted(data["refinement_steps"].unique()))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
