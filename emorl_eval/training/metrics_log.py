"""``metrics.csv``: one row per logging interval.

Columns are ``step`` first, then whatever the trainer logs (loss, nll, kl, the model's extras
such as ``geco_beta``, lr, steps_per_s, ...). A column that appears later (a GECO term that starts
after the warm start) extends the header; the file is rewritten once when that happens.
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
    return f"{value:.7g}" if isinstance(value, float) else value
