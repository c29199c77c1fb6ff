"""Training the real EfficientMORL (tiny overrides): one step, GECO (appendix F.2), resume, torchrun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from emorl_eval import models
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST, checkpoint_name

REPO = Path(__file__).resolve().parents[2]
# the smallest EfficientMORL the tetrominoes data allows (35x35 images are fixed by the data)
TINY = ["num_slots=2", "latent_dim=8", "num_layers=2", "refinement_steps=1"]


def _config(data: Path, out: Path, sets=(), **options):
    options = {"device": "cpu", "progress": False, "batch_size": 2, **options}
    return resolve_train_config("emorl", str(data), str(out), "tetrominoes", sets=[*TINY, *sets], **options)


def test_one_step_gives_finite_loss_and_gradients(tetrominoes_h5: Path) -> None:
    from emorl_eval.data import ObjectsDataset

    cfg = _config(tetrominoes_h5, Path("unused"))
    model = models.build("emorl", "tetrominoes", **cfg.model_overrides).train()
    images = torch.stack([ObjectsDataset(tetrominoes_h5, "train")[i]["image"] for i in range(2)])
    model.on_train_step(0)
    out = model(images, refinement_steps=1, generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(out.nll).all() and torch.isfinite(out.kl).all()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


def test_geco_module_matches_appendix_f2_on_hand_values() -> None:
    from emorl_eval.models.components.geco import GECO

    geco = GECO(target=-100.0, alpha=0.99, step_size=1e-6, warm_start=2, beta_init=0.55)
    geco.update(torch.tensor(50.0), step=1)  # before the warm start: nothing moves
    assert float(geco.geco_C_ema) == 0.0 and float(geco.geco_beta) == pytest.approx(0.55)
    geco.update(torch.tensor(50.0), step=2)  # warm start: C_ema = C - NLL
    assert float(geco.geco_C_ema) == pytest.approx(-150.0)
    assert float(geco.geco_beta) == pytest.approx(0.55)
    geco.update(torch.tensor(40.0), step=3)  # C_ema = .99 * -150 + .01 * (-100 - 40); zeta -= 1e-6 C_ema
    assert float(geco.geco_C_ema) == pytest.approx(-149.9, rel=1e-6)
    assert float(geco.geco_beta) == pytest.approx(0.55 + 149.9e-6, rel=1e-6)
    for _ in range(3):  # NLL far below the target: C_ema > 0 pushes zeta down, floored at 0.55
        geco.update(torch.tensor(-1e6), step=4)
    assert float(geco.geco_C_ema) > 0 and float(geco.geco_beta) == pytest.approx(0.55)
    # the constraint's value uses C_ema, its gradient that of the batch's C - NLL, scaled by softplus(zeta)
    nll = torch.tensor(30.0, requires_grad=True)
    value = geco.constraint(nll)
    value.backward()
    beta = float(geco.geco_beta)
    assert float(value.detach()) == pytest.approx(float(F.softplus(torch.tensor(beta))) * float(geco.geco_C_ema), rel=1e-6)
    assert float(nll.grad) == pytest.approx(-float(F.softplus(torch.tensor(beta))), rel=1e-6)


def test_geco_that_never_ran_initialises_at_its_first_update() -> None:
    """A model trained without GECO and continued with it past the warm start (train --init-from)
    initialises the EMA at its first update, as at the warm start, instead of averaging up from 0."""
    from emorl_eval.models.components.geco import GECO

    geco = GECO(target=-100.0, alpha=0.99, step_size=1e-6, warm_start=2, beta_init=0.55)
    geco.update(torch.tensor(50.0), step=5000)
    assert float(geco.geco_C_ema) == pytest.approx(-150.0)
    assert float(geco.geco_beta) == pytest.approx(0.55)  # no Lagrange step at the initialisation
    geco.update(torch.tensor(40.0), step=5001)  # from now on the usual update
    assert float(geco.geco_C_ema) == pytest.approx(-149.9, rel=1e-6)
    assert float(geco.geco_beta) == pytest.approx(0.55 + 149.9e-6, rel=1e-6)


def test_geco_state_follows_f2_through_the_trainer(tetrominoes_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_config(tetrominoes_h5, out, steps=4, log_every=1, ckpt_every=1, sets=["geco_warm_start=1"]))
    nll = pd.read_csv(out / "metrics.csv")["nll"].tolist()  # nll[i] = batch-mean NLL of step i
    states = [torch.load(out / checkpoint_name(n), weights_only=True)["state_dict"] for n in (1, 2, 3, 4)]
    c_ema = [_buffer(s, "geco_C_ema") for s in states]  # after the update of step n - 1
    beta = [_buffer(s, "geco_beta") for s in states]
    target = -4500.0  # the tetrominoes preset: C = -4500 nats per image
    assert c_ema[0] == 0.0 and beta[0] == pytest.approx(0.55)  # step 0 is before the warm start
    assert c_ema[1] == pytest.approx(target - nll[1], rel=1e-6)  # step 1 = warm start
    for n in (2, 3):
        assert c_ema[n] == pytest.approx(0.99 * c_ema[n - 1] + 0.01 * (target - nll[n]), rel=1e-6)
        assert beta[n] == pytest.approx(max(0.55, beta[n - 1] - 1e-6 * c_ema[n]), rel=1e-6)
    assert beta[3] > 0.55  # reconstruction worse than the target: the constraint weight grows
    last = torch.load(out / LAST, weights_only=True)["extra"]["geco"]
    last = {k.split(".")[-1]: v for k, v in last.items()}
    assert last == {"geco_C_ema": pytest.approx(c_ema[3]), "geco_beta": pytest.approx(beta[3])}


def _buffer(state_dict: dict, name: str) -> float:
    (key,) = [k for k in state_dict if k.split(".")[-1] == name]
    return float(state_dict[key])


def test_resume_is_bit_identical_with_emorl(tetrominoes_h5: Path, tmp_path: Path, monkeypatch) -> None:
    sets = ["geco_warm_start=1"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    train(_config(tetrominoes_h5, full, sets=sets, steps=4, ckpt_every=2, log_every=1, deterministic=True))

    cls = type(models.build("emorl", "tetrominoes", **_config(tetrominoes_h5, full).model_overrides))
    real = cls.after_backward

    def dies_in_step_3(self, output):
        if self.train_step == 3:
            raise KeyboardInterrupt
        real(self, output)

    monkeypatch.setattr(cls, "after_backward", dies_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tetrominoes_h5, killed, sets=sets, steps=4, ckpt_every=2, log_every=1, deterministic=True))
    monkeypatch.setattr(cls, "after_backward", real)
    train(_config(tetrominoes_h5, killed, sets=sets, steps=4, ckpt_every=2, log_every=1, deterministic=True),
          resume=True)

    a = torch.load(full / LAST, weights_only=True)
    b = torch.load(killed / LAST, weights_only=True)
    assert a["step"] == b["step"] == 4
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for pid, state in a["extra"]["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["extra"]["optimizer"]["state"][pid][name]), (pid, name)
    drop = ["steps_per_s", "images_per_s"]
    pd.testing.assert_frame_equal(pd.read_csv(full / "metrics.csv").drop(columns=drop),
                                  pd.read_csv(killed / "metrics.csv").drop(columns=drop), check_exact=True)
    assert models.load(killed / LAST).num_slots == 2  # the checkpoint loads through the registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ddp
def test_torchrun_two_gloo_processes(tetrominoes_h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
        "-m", "emorl_eval.train", "--model", "emorl", "--preset", "tetrominoes", "--data", str(tetrominoes_h5),
        "--out", str(out), "--steps", "2", "--batch-size", "4", "--device", "cpu", "--log-every", "1",
        "--no-progress", *[x for s in TINY for x in ("--set", s)],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run: ") == 1  # only rank 0 reports
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["step"].tolist() == [1, 2] and metrics["loss"].notna().all()
    ckpt = torch.load(out / LAST, weights_only=True)
    assert ckpt["step"] == 2 and ckpt["extra"]["world_size"] == 2 and len(ckpt["extra"]["rng"]) == 2
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
