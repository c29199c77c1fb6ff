"""Object fates of a model on a dataset: one row per ground-truth object, and a per-model summary.

The forward passes are :func:`emorl_eval.evaluate.forward_batches`' (same images, same noise as
``emorl-eval evaluate`` with the same seed and batch size), so the FG-ARI in the summary is the
one ``evaluate`` reports, and the breakdown (:mod:`emorl_eval.metrics.fates`) says where it is lost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from emorl_eval.evaluate import effective_refinement_steps, forward_batches, images_to_evaluate, resize_labels
from emorl_eval.metrics.ari import ari_from_contingency
from emorl_eval.metrics.fates import SPLIT_BELOW, ObjectFates, fates_from_contingency
from emorl_eval.metrics.segmentation import object_contingency
from emorl_eval.models._peer_ops import eval_mode

#: columns of the per-object table after the identity columns
OBJECT_COLUMNS: tuple[str, ...] = ("image_index", "object", "majority_slot", "majority_share", "background_share",
                                   "other_share", "merged")
#: summary columns, in display order, with their labels
SUMMARY_LABELS: dict[str, str] = {
    "images": "images",
    "objects": "objects",
    "ari_fg": "FG-ARI",
    "majority_share": "in majority slot",
    "background_share": "in background slots",
    "other_share": "in other objects' slots",
    "split": f"split (< {SPLIT_BELOW:.0%} in one slot)",
    "merged": "merged with another object",
}


def fates_rows(fates: ObjectFates, image_index: np.ndarray) -> pd.DataFrame:
    """One row per scored object of a batch (:data:`OBJECT_COLUMNS`); ``image_index [B]`` names
    the batch's images."""
    image, obj = torch.nonzero(fates.scored, as_tuple=True)
    return pd.DataFrame({
        "image_index": np.asarray(image_index)[image.cpu().numpy()],
        "object": (obj + 1).cpu().numpy(),
        "majority_slot": fates.majority_slot[image, obj].cpu().numpy(),
        "majority_share": fates.majority_share[image, obj].cpu().numpy(),
        "background_share": fates.background_share[image, obj].cpu().numpy(),
        "other_share": fates.other_share[image, obj].cpu().numpy(),
        "merged": fates.merged[image, obj].cpu().numpy(),
    })


def object_fates_table(model: Any, dataset: Any, num: int | None = 320, batch_size: int = 32, seed: int = 0,
                       device: str | torch.device = "cpu", progress: bool = True,
                       metadata: dict[str, Any] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Fates of every scored object in the first ``num`` images of ``dataset``.

    Returns:
        ``(objects, ari_fg)``: one row per scored object (``metadata`` columns, then
        :data:`OBJECT_COLUMNS`; ``object`` is the 1-based label) and the per-image FG-ARI ``[N]``.

    Raises:
        DataError / ConfigError: incompatible image sizes, empty dataset, bad arguments.
    """
    n = images_to_evaluate(model, dataset, num, batch_size)
    device = torch.device(device)
    model = model.to(device)
    parts, aris = [], []
    with eval_mode(model):
        steps = effective_refinement_steps(model, None)
        for batch, output in forward_batches(model, dataset, n, batch_size, steps, seed, device, progress, "fates"):
            masks = output.masks.detach()
            true = resize_labels(batch["masks"].to(masks.device), tuple(masks.shape[-2:]))
            vis = batch["visibility"].to(masks.device)
            table = object_contingency(true, masks, visibility=vis)  # one table for FG-ARI and the fates
            aris.append(ari_from_contingency(table[:, 1:, :]).cpu().numpy())  # as mask_metrics' ari_fg
            parts.append(fates_rows(fates_from_contingency(table, vis), batch["index"].numpy()))
    objects = pd.concat(parts, ignore_index=True)
    for key, value in reversed(list((metadata or {}).items())):
        objects.insert(0, key, value)
    return objects, np.concatenate(aris)


def summarize_objects(objects: pd.DataFrame, ari_fg: np.ndarray) -> dict[str, float]:
    """One summary row: images, objects, mean FG-ARI and the means of the fates over objects."""
    n = len(objects)
    mean = (lambda col: float(objects[col].mean())) if n else (lambda col: float("nan"))
    return {
        "images": int(len(ari_fg)),
        "objects": n,
        "ari_fg": float(np.mean(ari_fg)),
        "majority_share": mean("majority_share"),
        "background_share": mean("background_share"),
        "other_share": mean("other_share"),
        "split": float((objects["majority_share"] < SPLIT_BELOW).mean()) if n else float("nan"),
        "merged": mean("merged"),
    }


def summary_markdown(rows: pd.DataFrame) -> str:
    """Markdown table of summary rows (one per checkpoint, indexed by its name)."""
    header = "| checkpoint | " + " | ".join(SUMMARY_LABELS.values()) + " |"
    lines = [header, "|" + "---|" * (len(SUMMARY_LABELS) + 1)]
    for name, row in rows.iterrows():
        cells = [f"{int(row[k])}" if k in ("images", "objects") else f"{row[k]:.3f}" for k in SUMMARY_LABELS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
