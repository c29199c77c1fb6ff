"""The DCI importance heatmap: sized to the rows it shows, labels that agree with the title."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from emorl_eval.dci.pipeline import DCIResult
from emorl_eval.dci.report import heatmap, heatmap_ylabel

FACTORS = ("x", "y", "shape", "color")


def _result(num_dims: int, active: int) -> DCIResult:
    rng = np.random.default_rng(0)
    rows = [{"checkpoint": "runs/a/checkpoint_last.pt", "seed": 0, "code_dim": d, "variance": 1.0,
             "active": d < active, "fitted": True, **{f: float(rng.random()) for f in FACTORS}}
            for d in range(num_dims)]
    return DCIResult(runs=pd.DataFrame(), importance=pd.DataFrame(rows), summary=pd.DataFrame())


def _height(path: Path) -> int:
    with Image.open(path) as image:
        return image.size[1]


def test_panel_height_follows_the_rows_shown(tmp_path: Path) -> None:
    few = _height(heatmap(_result(32, active=4), tmp_path / "few.png"))
    all_rows = _height(heatmap(_result(32, active=0), tmp_path / "all.png"))  # none active: all 32 shown
    # 0.25 in per row at 120 dpi: 28 more rows add about 840 px
    assert all_rows - few == pytest.approx(28 * 0.25 * 120, rel=0.1)


def test_the_label_says_which_dims_are_shown() -> None:
    assert heatmap_ylabel(True) == "code dim (active)"
    assert "none active" in heatmap_ylabel(False)
