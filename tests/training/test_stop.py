"""Clean early stops: --max-minutes and SIGTERM write a checkpoint and --resume continues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from emorl_eval import cli
from emorl_eval.training import resolve_train_config, train_until_stopped
from emorl_eval.training.loop import StopRequest


def test_max_minutes_stops_with_a_checkpoint_and_resume_finishes(tiny_data: Path, tmp_path: Path) -> None:
    config = resolve_train_config("tiny", tiny_data, tmp_path / "run", "small", steps=10_000, device="cpu",
                                  progress=False, ckpt_every=10_000, max_minutes=0.5 / 60)
    result = train_until_stopped(config)
    assert result.stopped_by == "max_minutes" and 0 < result.step < 10_000
    ckpt = torch.load(tmp_path / "run" / "checkpoint_last.pt", weights_only=True)
    assert ckpt["step"] == result.step  # the step reached, not the last scheduled checkpoint
    assert ckpt["extra"]["train_seconds"] > 0
    finish = resolve_train_config("tiny", tiny_data, tmp_path / "run", "small", steps=result.step + 3,
                                  device="cpu", progress=False)
    done = train_until_stopped(finish, resume=True)
    assert done.stopped_by is None and done.step == result.step + 3
    resumed = torch.load(tmp_path / "run" / "checkpoint_last.pt", weights_only=True)
    assert resumed["extra"]["train_seconds"] >= ckpt["extra"]["train_seconds"]  # accumulates


def test_stop_request_records_the_first_signal_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_writes_a_checkpoint_and_exits_143(tetrominoes_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "emorl_eval", "train", "--model", "slot_attention", "--preset", "tiny",
           "--set", "image_size=[35,35]", "--data", str(tetrominoes_h5), "--steps", "100000", "--batch-size", "2",
           "--ckpt-every", "100000", "--device", "cpu", "--no-progress", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not (run / "config.json").is_file() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # some steps
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM at step" in err and "Traceback" not in err
    step = torch.load(run / "checkpoint_last.pt", weights_only=True)["step"]
    assert 0 < step < 100_000


def test_max_minutes_must_be_positive(capsys, tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data), "--out",
                  str(tmp_path / "r"), "--steps", "1", "--device", "cpu", "--max-minutes", "0"])
    assert exit_info.value.code == 2
