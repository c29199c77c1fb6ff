"""Warnings for results that look like numbers but describe a degenerate model.

Every check works on what a command already computed (the per-image evaluation table, a DCI row,
a symmetry table) and returns plain-text warnings; commands print them as ``warning: ...`` lines
and store them in their CSVs (a ``warnings`` column, ``; ``-separated, empty when healthy).

Thresholds (named, so tables and tests cite the same numbers):

* :data:`MIN_SLOTS_USED` - mean number of slots that win the argmax on >= 1% of an image's pixels
  (``evaluate.SLOT_USED_MIN_AREA``). A collapsed model uses 1 (one slot owns every pixel); a
  model that separates even one object from the background uses >= 2.
* :data:`MIN_MATCHED_COVERAGE` - mean fraction of each object's pixels that its Hungarian-matched
  slot holds (foreground pixels only). Below it most objects are split across slots or merged
  into another object's slot, so the slots do not stand for objects. IoU is not used here: a
  Gaussian-likelihood model spreads the background over every slot, which caps the IoU of a
  perfect decomposition (the authors' published Tetrominoes outputs: FG-ARI 1.0, matched IoU 0.27,
  matched coverage 1.0).
* :data:`MIN_MATCHED_IOU` - mean IoU of the Hungarian-matched (object, slot) pairs that DCI
  trains on; reported for DCI only, where it says how much background the pairs' codes describe.
* :data:`MAX_INFORMATIVENESS_GAP` - train minus test informativeness of DCI's trees; above it
  the trees memorise the training pairs, and D and C describe that memorisation.
* no active latent dims (variance above the activeness threshold): the codes do not vary, so
  DCI's importance matrix is noise.
* symmetry rows marked uninformative: permutations barely move the output, so "holds" is vacuous.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

#: mean slots used per image below which the model is reported as collapsed
MIN_SLOTS_USED = 1.5
#: mean matched coverage (fraction of an object's pixels in its matched slot) below which the
#: evaluation warns that slots do not stand for objects
MIN_MATCHED_COVERAGE = 0.5
#: mean matched IoU below which DCI pairs are flagged
MIN_MATCHED_IOU = 0.5
#: train - test DCI informativeness above which the trees are reported as memorising
MAX_INFORMATIVENESS_GAP = 0.3


def evaluation_warnings(per_image: pd.DataFrame) -> list[str]:
    """Warnings for an ``evaluate`` per-image table (columns ``slots_used``, ``matched_coverage``)."""
    found = []
    if "slots_used" in per_image and per_image["slots_used"].notna().any():
        used = float(per_image["slots_used"].mean())
        if used < MIN_SLOTS_USED:
            found.append(f"collapsed model: on average {used:.2f} slot(s) own the pixels of an image "
                         f"(< {MIN_SLOTS_USED}); ARI and the other scores describe one blob, not objects")
    if "matched_coverage" in per_image and per_image["matched_coverage"].notna().any():
        coverage = float(per_image["matched_coverage"].mean())
        if coverage < MIN_MATCHED_COVERAGE:
            found.append(f"mean matched coverage {coverage:.3f} < {MIN_MATCHED_COVERAGE}: the slots matched to "
                         "objects hold less than half of their pixels (objects split or merged)")
    return found


def dci_warnings(row: dict[str, Any] | pd.Series) -> list[str]:
    """Warnings for one DCI result row (``num_active_dims``, ``mean_matched_iou``,
    ``informativeness_train``, ``informativeness_test``; absent keys are skipped)."""
    found = []
    active = row.get("num_active_dims")
    if active is not None and not _nan(active) and int(active) == 0:
        found.append("no active latent dims: the codes barely vary across objects, the importance matrix is noise")
    iou = row.get("mean_matched_iou")
    if iou is not None and not _nan(iou) and float(iou) < MIN_MATCHED_IOU:
        found.append(f"mean matched IoU {float(iou):.3f} < {MIN_MATCHED_IOU}: the (factor, code) pairs "
                     "mostly pair objects with slots that do not cover them")
    train, test = row.get("informativeness_train"), row.get("informativeness_test")
    if train is not None and test is not None and not (_nan(train) or _nan(test)):
        gap = float(train) - float(test)
        if gap > MAX_INFORMATIVENESS_GAP:
            found.append(f"informativeness train {float(train):.3f} vs test {float(test):.3f} (gap > "
                         f"{MAX_INFORMATIVENESS_GAP}): the trees memorise the training pairs")
    return found


def symmetry_warnings(table: pd.DataFrame) -> list[str]:
    """Warnings for a symmetry table (its ``informative`` column)."""
    weak = table["informative"].map(lambda v: v is False or v == False)  # noqa: E712 (None = invariant)
    n = int(weak.sum())
    if not n:
        return []
    return [f"{n} equivariant output(s) uninformative: permuting the slots barely moves them, so "
            "'holds' is vacuous (slots nearly identical; try --generic-weights)"]


def joined(warnings: list[str]) -> str:
    """The ``warnings`` CSV cell: ``"; "``-joined, empty when there are none."""
    return "; ".join(warnings)


def _nan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False
