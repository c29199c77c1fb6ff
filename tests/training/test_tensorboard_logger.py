"""``train --tensorboard``: event files in the run folder with the metrics.csv scalars and the
decomposition grids of a fixed batch; rank 0 only; a resumed run repeats no step; a one-line error
without the ``tensorboard`` extra (emorl_eval/training/tensorboard_logger.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval.training import distributed, resolve_train_config, train_until_stopped
from emorl_eval.training.checkpointing import LAST
from emorl_eval.training.tensorboard_logger import IMAGE_TAG, TensorBoardOptions, decomposition_grid
from tests.cli_run import run_cli


def _events(run: Path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _config(data: Path, out: Path, steps: int = 4):
    return resolve_train_config("tiny", str(data), str(out), "small", steps=steps, log_every=1, ckpt_every=2,
                                device="cpu", progress=False)


def test_grid_rows_are_input_reconstruction_and_masked_components() -> None:
    b, k, h, w = 2, 3, 4, 5
    images, recon = torch.full((b, 3, h, w), 0.25), torch.full((b, 3, h, w), 0.5)
    masks = torch.zeros(b, k, 1, h, w)
    masks[:, 1] = 1.0
    components = torch.ones(b, k, 3, h, w)
    grid = decomposition_grid(images, recon, masks, components, pad=1)
    assert grid.shape == (3, b * (h + 1) + 1, (k + 2) * (w + 1) + 1)
    row = grid[:, 1:1 + h]  # first image
    cell = lambda col: row[:, :, 1 + col * (w + 1):1 + col * (w + 1) + w]  # noqa: E731
    assert torch.all(cell(0) == 0.25) and torch.all(cell(1) == 0.5)
    assert torch.all(cell(2) == 0) and torch.all(cell(3) == 1) and torch.all(cell(4) == 0)


def test_run_writes_scalars_and_decomposition_images(tmp_path: Path, tiny_data: Path) -> None:
    run = tmp_path / "run"
    train_until_stopped(_config(tiny_data, run), tensorboard=TensorBoardOptions(image_every=2, num_images=3))
    acc = _events(run)
    metrics = pd.read_csv(run / "metrics.csv")
    for column in ("loss", "nll", "kl", "lr", "grad_norm", "steps_per_s"):
        events = acc.Scalars(f"train/{column}")
        assert [e.step for e in events] == metrics["step"].tolist() == [1, 2, 3, 4]
        assert [e.value for e in events] == pytest.approx(metrics[column].tolist(), rel=1e-5)
    images = acc.Images(IMAGE_TAG)
    assert [e.step for e in images] == [2, 4]
    # 3 rows of 35x35 images; columns: input, reconstruction, K masked components
    slots = torch.load(run / LAST, weights_only=True)["config"]["num_slots"]
    assert (images[0].height, images[0].width) == (3 * 37 + 2, (slots + 2) * 37 + 2)


def test_resume_appends_without_repeating_steps(tmp_path: Path, tiny_data: Path) -> None:
    run = tmp_path / "run"
    options = TensorBoardOptions(image_every=2, num_images=2)
    train_until_stopped(_config(tiny_data, run), tensorboard=options)
    # killed after step 4 was logged but before its checkpoint: the last checkpoint is step 2
    shutil.copy(run / "checkpoint_0000002.pt", run / LAST)
    (run / "checkpoint_0000004.pt").unlink()
    train_until_stopped(_config(tiny_data, run), resume=True, tensorboard=options)
    acc = _events(run)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [e.step for e in acc.Images(IMAGE_TAG)] == [2, 4]
    assert len(list(run.glob("events.out.tfevents.*"))) == 2  # one per invocation, same folder


class _SecondRank(distributed.DistContext):
    """Rank 1 of 2, without a process group (its collectives are those of one process)."""

    @property
    def distributed(self) -> bool:
        return False


def test_only_rank_0_writes_events(tmp_path: Path, tiny_data: Path, monkeypatch) -> None:
    monkeypatch.setattr(distributed, "setup", lambda device: _SecondRank(1, 2, 1, torch.device("cpu")))
    run = tmp_path / "run"
    result = train_until_stopped(_config(tiny_data, run, steps=2), tensorboard=TensorBoardOptions(image_every=1))
    assert result.step == 2 and not (run.exists() and list(run.glob("events.out.tfevents.*")))


def test_cli_flag_and_missing_extra(tmp_path: Path, tiny_data: Path, capsys, monkeypatch) -> None:
    argv = ["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data), "--steps", "2",
            "--log-every", "1", "--no-progress", "--tensorboard", "--image-every", "1"]
    code, _, err = run_cli(argv + ["--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert [e.step for e in _events(tmp_path / "a").Images(IMAGE_TAG)] == [1, 2]

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # the extra is not installed
    code, _, err = run_cli(argv + ["--out", str(tmp_path / "b")], capsys)
    assert code == 2 and err.count("\n") == 1 and 'pip install -e ".[tensorboard]"' in err, err
    assert not (tmp_path / "b").exists()
