"""``metrics.csv``: one row per logging interval.

Columns are ``step`` first, then whatever the trainer logs, each the mean over the row's steps
(and ranks):

- ``loss``: the objective the optimiser minimised, the model's ``ModelOutput.loss``; it is not
  ``nll + kl``. EfficientMORL sums the losses of its I+1 inference steps with weights
  ``(I + 3 - i) / (I + 1)``, and each step's loss is ``nll + kl_beta * kl`` without GECO, or GECO's
  Lagrangian ``kl_beta * kl - softplus(geco_beta) * (C - nll)`` (C the reconstruction target;
  negative once the target is met) while GECO is active; other models document theirs;
- ``nll``, ``kl``: per image, of the final inference step, in nats (empty for a model without a KL
  term, e.g. Slot Attention, whose ``nll`` is a sum of squared errors);
- the model's extras (``geco_beta``, ``geco_C_ema``, ... for GECO; written even where GECO is
  off, when they are constants), ``grad_norm``, ``lr``, ``refinement_steps``, ``steps_per_s``,
  ``images_per_s``.

A column that appears later (a GECO term that starts after the warm start) extends the header; the
file is rewritten once when that happens. NaN values are written as empty cells.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any


class MetricsCsv:
    """Append rows of scalars to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.columns: list[str] = []
        if self.path.is_file():
            with self.path.open(newline="") as f:
                self.columns = next(csv.reader(f), [])

    def reset(self) -> None:
        """Start an empty file."""
        self.path.unlink(missing_ok=True)
        self.columns = []

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run repeats them)."""
        if not self.path.is_file():
            return
        rows = [r for r in self._read() if int(float(r["step"])) <= step]
        self._rewrite(rows)

    def append(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self.columns]
        if new:
            rows = self._read() if self.path.is_file() else []
            self.columns = self.columns + new if self.columns else ["step"] + [k for k in row if k != "step"]
            self._rewrite(rows)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow({k: _fmt(row.get(k, "")) for k in self.columns})

    def _read(self) -> list[dict[str, str]]:
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: r.get(k, "") for k in self.columns})
        os.replace(tmp, self.path)


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if value != value else f"{value:.7g}"  # NaN: an empty cell
    return value
