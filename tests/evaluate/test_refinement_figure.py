"""The refinement-sweep figure is written from a long table."""

from __future__ import annotations

import pandas as pd

from emorl_eval.reports.refinement import refinement_figure


def test_figure_written(tmp_path) -> None:
    rows = [{"refinement_steps": i, "image_index": j, "metric": m, "value": v * (1 + i) + j}
            for i in range(3) for j in range(4) for m, v in (("ari_fg", 0.1), ("mse", 0.01), ("kl", 5.0))]
    path = refinement_figure(pd.DataFrame(rows), tmp_path / "fig" / "sweep.png", title="fake")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
