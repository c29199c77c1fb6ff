"""DistributedDataParallel on CPU (gloo, 2 processes): same effective batch as one process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST
from tests.training import doubles

# ~15-30 s (two process start-ups); CI runs the torchrun smoke test of test_emorl_training instead
pytestmark = [pytest.mark.ddp, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(data: Path, out: Path):
    # noise=0 makes the model deterministic given its batch, so 2 ranks x 2 images must match
    # 1 process x 4 images up to float summation order
    return resolve_train_config(
        "tiny", str(data), str(out), "small", steps=7, log_every=3, ckpt_every=5, device="cpu",
        progress=False, sets=["model.noise=0"],
    )


def _worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    doubles.install()
    train(_config(Path(data), Path(out)))


def test_two_gloo_ranks_match_one_process(tmp_path: Path, tiny_data: Path) -> None:
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    train(_config(tiny_data, single))
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_data), str(ddp)), nprocs=2, join=True)

    names = sorted(p.name for p in ddp.iterdir())
    assert names == ["checkpoint_0000005.pt", "checkpoint_0000007.pt", LAST, "config.json", "metrics.csv"]
    a = torch.load(single / LAST, weights_only=True)
    b = torch.load(ddp / LAST, weights_only=True)
    assert b["step"] == 7 and len(b["extra"]["rng"]) == 2 and b["extra"]["world_size"] == 2
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-4, atol=1e-5)
    # GECO saw the whole effective batch on every rank
    assert float(b["state_dict"]["geco_beta"]) > 0.55
    ma, mb = pd.read_csv(single / "metrics.csv"), pd.read_csv(ddp / "metrics.csv")
    assert mb["step"].tolist() == [3, 6, 7]
    for column in ("loss", "nll", "kl", "geco_C_ema"):
        assert mb[column].tolist() == pytest.approx(ma[column].tolist(), rel=1e-4)
