"""Figure functions on the toy model: PNGs of the documented pixel size."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from emorl_eval.reports.figures import decompose_figure, stages_figure, traverse_figure
from emorl_eval.reports.grids import LABEL_PX, TITLE_PX
from emorl_eval.reports.leakage import leakage_figure
from tests.reports.toy_model import ToyConfig, ToyModel

K = 3


def _images(n: int) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(2))


def _size(path: Path) -> tuple[int, int]:
    assert path.stat().st_size > 500
    with Image.open(path) as im:
        return im.size


def test_decompose(tmp_path: Path) -> None:
    path = decompose_figure(ToyModel(ToyConfig()).eval(), _images(2), tmp_path / "d.png", cell_px=40)
    assert _size(path) == ((3 + K) * 40, TITLE_PX + 2 * 40)


def test_traverse(tmp_path: Path) -> None:
    path, info = traverse_figure(ToyModel(ToyConfig()).eval(), _images(5), tmp_path / "t.png",
                                 num_dims=3, steps=4, cell_px=32)
    assert _size(path) == (LABEL_PX + 5 * 32, TITLE_PX + 3 * 32)
    assert len(info["dims"]) == 3 and all(lo <= hi for lo, hi in zip(info["min"], info["max"]))


def test_stages(tmp_path: Path) -> None:
    path, names = stages_figure(ToyModel(ToyConfig()).eval(), _images(1)[0], tmp_path / "s.png", cell_px=32)
    assert names == ["layer1", "layer2"]
    assert _size(path) == (LABEL_PX + (3 + 2 * K) * 32, TITLE_PX + 2 * 32)


def test_leakage_figure(tmp_path: Path) -> None:
    path = leakage_figure(ToyModel(ToyConfig(coupled=True)).eval(), _images(1)[0], tmp_path / "l.png",
                          range_images=_images(4), steps=3, cell_px=32)
    assert _size(path) == (LABEL_PX + 4 * 32, TITLE_PX + 2 * K * 32)
