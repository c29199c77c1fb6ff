"""Every figure the demo writes (and the other report figures) is legible at 100 % zoom: rendered
at its real size, each text is at least MIN_FONT_PT points (>= 11 px at the PNG's dpi), every
plotted axis has its labels, every colour bar says what it shows and in which unit, and the PNG
has the documented pixel size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from emorl_eval.figure_files import MIN_FONT_PT
from emorl_eval.reports.grids import LABEL_PX, TITLE_PX
from tests.reports.toy_model import ToyConfig, ToyModel

K = 3


@pytest.fixture
def rendered(monkeypatch) -> list:
    """(figure, dpi) of every figure saved during the test."""
    import matplotlib.figure

    saved: list = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append((self, kwargs.get("dpi") or self.dpi))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return saved


def _problems(fig, dpi: float) -> list[str]:
    """What makes ``fig`` hard to read at its real size (empty when nothing)."""
    from matplotlib.text import Text

    found = []
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < MIN_FONT_PT:
            found.append(f"{text.get_text()!r}: {text.get_fontsize():.1f} pt")
    assert MIN_FONT_PT * dpi / 72 >= 11, "fonts smaller than 11 px at this dpi"
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            label = ax.get_ylabel() or ax.get_xlabel()
            if "(" not in label:
                found.append(f"colour bar without a unit: {label!r}")
        elif len(ax.get_xticks()) and ax.axison:  # a plotted axis (not an image cell)
            if not ax.get_xlabel() or not ax.get_ylabel():
                found.append(f"axis without labels: x {ax.get_xlabel()!r}, y {ax.get_ylabel()!r}")
    return found


def _check(path: Path, rendered: list, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The one figure rendered: legible, its PNG of the figure's size (or ``size``)."""
    assert len(rendered) == 1
    fig, dpi = rendered[0]
    assert _problems(fig, dpi) == []
    with Image.open(path) as image:
        real = image.size
    w, h = fig.get_size_inches()
    assert real == (size or (round(w * dpi), round(h * dpi)))
    assert real[0] >= 300 and real[1] >= 100
    return real


def _images(n: int) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(2))


def test_refinement_sweep(tmp_path: Path, rendered) -> None:
    from emorl_eval.reports.refinement import refinement_figure

    rows = [{"refinement_steps": i, "metric": m, "value": float(v)}
            for i in range(3) for m in ("ari_fg", "mse", "kl") for v in np.linspace(0, 1, 4) + i]
    _check(refinement_figure(pd.DataFrame(rows), tmp_path / "r.png", title="emorl on tetrominoes"), rendered)


def test_dci_importance_heatmap(tmp_path: Path, rendered) -> None:
    from emorl_eval.dci.pipeline import DCIResult
    from emorl_eval.dci.report import heatmap

    rng = np.random.default_rng(0)
    rows = [{"checkpoint": "runs/a/checkpoint_last.pt", "seed": 0, "code_dim": d, "variance": 1.0,
             "active": d < 4, "fitted": True, **{f: float(rng.random()) for f in ("x", "y", "shape", "color")}}
            for d in range(8)]
    result = DCIResult(runs=pd.DataFrame(), importance=pd.DataFrame(rows), summary=pd.DataFrame())
    _check(heatmap(result, tmp_path / "h.png"), rendered)


def test_decomposition(tmp_path: Path, rendered) -> None:
    from emorl_eval.reports.figures import decompose_figure

    path = decompose_figure(ToyModel(ToyConfig()).eval(), _images(2), tmp_path / "d.png")
    _check(path, rendered, ((3 + K) * 96, TITLE_PX + 2 * 96))
    assert [t.get_text() for t in rendered[0][0].texts][:3] == ["image", "recon", "masks"]


def test_leakage(tmp_path: Path, rendered) -> None:
    from emorl_eval.reports.leakage import leakage_figure

    path = leakage_figure(ToyModel(ToyConfig(coupled=True)).eval(), _images(1)[0], tmp_path / "l.png",
                          range_images=_images(4), steps=5)
    width, height = _check(path, rendered, (LABEL_PX + 6 * 80, TITLE_PX + 2 * K * 80))
    assert (width, height) != (456, 532)
    labels = [t.get_text() for t in rendered[0][0].texts]
    assert any("|dR|+|dG|+|dB|" in t and "of 3" in t for t in labels)  # the colour key has its unit


def test_stages_has_the_input_image(tmp_path: Path, rendered) -> None:
    from emorl_eval.reports.figures import stages_figure

    image = _images(1)[0]
    path, _ = stages_figure(ToyModel(ToyConfig()).eval(), image, tmp_path / "s.png")
    _check(path, rendered, (LABEL_PX + (3 + 2 * K) * 64, TITLE_PX + 2 * 64))
    assert rendered[0][0].texts[0].get_text() == "input"
    with Image.open(path) as png:  # the first cell of each row is the image itself
        cell = np.asarray(png.convert("RGB"), dtype=np.float32)[TITLE_PX + 2:TITLE_PX + 62, LABEL_PX + 2:LABEL_PX + 62]
    expected = np.asarray(Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).resize(
        (64, 64), Image.NEAREST), dtype=np.float32)[2:62, 2:62]
    assert np.abs(cell - expected).mean() < 12


def test_ablation_plot(tmp_path: Path, rendered) -> None:
    from emorl_eval.reports.plots import ablation_plot
    from emorl_eval.reports.runs import RunTable

    runs = pd.DataFrame([{"run": f"r{s}", "path": f"runs/r{s}", "model": "emorl", "preset": "tetrominoes",
                          "dataset": "tetrominoes", "seed": s, "n_images": 4, "ari": 0.8 + 0.01 * s,
                          "mse": 1e-3, "kl": 100.0 + s, "source": "summary"} for s in range(3)])
    _check(ablation_plot(RunTable(runs=runs, missing=pd.DataFrame()), tmp_path / "a.png"), rendered)


def test_timing_plot(tmp_path: Path, rendered) -> None:
    from emorl_eval.reports.plots import timing_plot

    timings = pd.DataFrame([{"model": m, "image_size": s, "ms_per_step": 10.0 * s / 64 + i, "batch_size": 4,
                             "device": "cpu"} for i, m in enumerate(("emorl", "genesis")) for s in (64, 96)])
    _check(timing_plot(timings, tmp_path / "t.png"), rendered)
