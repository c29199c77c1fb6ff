"""``emorl-eval train`` through cli.main: a short run and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import torch

from tests.cli_run import run_cli


def _run(capsys, args: list[str]) -> tuple[int, str, str]:
    return run_cli(args, capsys)


def test_train_command_runs_and_prints_a_summary(capsys, tiny_data: Path, tmp_path: Path) -> None:
    code, out, err = _run(capsys, ["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data),
                                   "--out", str(tmp_path / "run"), "--steps", "3", "--seed", "1", "--device", "cpu",
                                   "--log-every", "1", "--set", "num_slots=3", "--no-progress"])
    assert code == 0, err
    assert f"run: {tmp_path / 'run'}" in out and "steps_per_s" in out
    assert (tmp_path / "run" / "checkpoint_0000003.pt").is_file()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--data": "missing.h5"}, "missing.h5: no such data file"),
        ({"--preset": "nope"}, "unknown preset 'nope'"),
        ({"--model": "nope"}, "unknown model 'nope'"),
        ({"--set": "bogus=1"}, "--set bogus: unknown key"),
        ({"--set": "lr=x"}, "--set lr=x: expected a value of type float"),
        ({"--steps": "0"}, "Invalid value for '--steps': 0 is not in the range x>=1"),
        pytest.param({"--device": "cuda:0"}, "CUDA is not available",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA")),
        ({"--device": "gpu0"}, "--device gpu0: not a torch device"),
    ],
)
def test_bad_input_is_one_line(capsys, tiny_data: Path, tmp_path: Path, change: dict, message) -> None:
    options = {"--model": "tiny", "--preset": "small", "--data": str(tiny_data), "--out": str(tmp_path / "r"),
               "--steps": "1", "--device": "cpu"}
    options.update({k: (str(tmp_path / v) if k == "--data" else v) for k, v in change.items()})
    args = ["train", "--no-progress"] + [x for kv in options.items() for x in kv]
    code, out, err = _run(capsys, args)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r" / "checkpoint_last.pt").exists()


def test_resume_without_a_run_is_one_line(capsys, tiny_data: Path, tmp_path: Path) -> None:
    code, _, err = _run(capsys, ["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data),
                                 "--out", str(tmp_path / "none"), "--device", "cpu", "--resume"])
    assert code == 2 and "nothing to resume" in err and err.count("\n") == 1
    # a bare --resume (no --model) names the missing run, not the missing --model
    code, _, err = _run(capsys, ["train", "--data", str(tiny_data), "--out", str(tmp_path / "none"), "--resume"])
    assert code == 2 and "nothing to resume" in err and err.count("\n") == 1, err


def test_help_documents_the_steps_per_second_procedure(capsys) -> None:
    code, out, _ = _run(capsys, ["train", "--help"])
    assert code == 0 and "steps_per_s" in out and "torchrun --nproc_per_node=2 -m emorl_eval.train" in out


def test_metrics_log_the_configured_refinement_steps_without_a_curriculum(capsys, tetrominoes_h5: Path,
                                                                          tmp_path: Path) -> None:
    code, _, err = _run(capsys, ["train", "--model", "emorl", "--preset", "tetrominoes_cpu", "--data",
                                 str(tetrominoes_h5), "--out", str(tmp_path / "run"), "--steps", "2",
                                 "--batch-size", "2", "--log-every", "1", "--device", "cpu", "--no-progress",
                                 "--set", "refinement_steps=2"])
    assert code == 0, err
    import pandas as pd

    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["refinement_steps"].tolist() == [2, 2]


def test_train_help_shows_the_defaults_the_trainer_uses() -> None:
    """train's options default to None (a resumed run keeps its own values); the help shows the
    TrainConfig defaults they stand for, in the [default: ...] style of every other command."""
    import dataclasses

    from emorl_eval.commands.train import train_command
    from emorl_eval.training.config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    shown = {p.name: p.show_default for p in train_command.params}
    assert shown["log_every"] == str(defaults["log_every"])
    assert shown["ckpt_every"] == str(defaults["ckpt_every"])
    assert shown["device"] == defaults["device"]
    assert shown["num_workers"] == str(defaults["num_workers"])
    assert defaults["max_minutes"] is None and shown["max_minutes"] == "no limit"
    assert all(p.show_default or p.required or p.is_flag or p.multiple
               for p in train_command.params if isinstance(p, click.Option) and p.name != "help")


def test_a_bare_resume_keeps_the_runs_steps_and_intervals(capsys, tiny_data: Path, tmp_path: Path) -> None:
    """A run stopped early (--max-minutes, SIGTERM) and continued with a bare --resume goes on to its
    own --steps with its own --log-every / --ckpt-every, not the preset's defaults."""
    import json

    out = tmp_path / "run"
    start = ["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data), "--out", str(out),
             "--steps", "4", "--log-every", "1", "--ckpt-every", "1", "--device", "cpu", "--no-progress"]
    code, _, err = _run(capsys, start)
    assert code == 0, err
    # pretend the run stopped at step 2 of 4: drop its later checkpoints and point last at step 2
    ckpt = torch.load(out / "checkpoint_0000002.pt", weights_only=False)
    for step in (3, 4):
        (out / f"checkpoint_{step:07d}.pt").unlink()
    torch.save(ckpt, out / "checkpoint_last.pt")
    code, _, err = _run(capsys, ["train", "--data", str(tiny_data), "--out", str(out), "--device", "cpu",
                                 "--no-progress", "--resume"])
    assert code == 0, err
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["steps"], saved["log_every"], saved["ckpt_every"]) == (4, 1, 1)
    assert (out / "checkpoint_0000003.pt").is_file() and torch.load(out / "checkpoint_last.pt")["step"] == 4


def test_a_bare_resume_keeps_the_runs_own_set_values(capsys, tiny_data: Path, tmp_path: Path) -> None:
    """Started with model and training --set values and --batch-size: --resume without any of them
    continues with the run's own; an explicit --set on resume must repeat the start's."""
    out = tmp_path / "run"
    code, _, err = _run(capsys, ["train", "--model", "tiny", "--preset", "small", "--data", str(tiny_data),
                                 "--out", str(out), "--steps", "2", "--device", "cpu", "--no-progress",
                                 "--batch-size", "6", "--set", "num_slots=3", "--set", "lr=0.02",
                                 "--set", "clip_grad_norm=none", "--set", "refinement_curriculum=[[0,1]]"])
    assert code == 0, err
    bare = ["train", "--data", str(tiny_data), "--out", str(out), "--device", "cpu", "--no-progress", "--resume"]
    code, _, err = _run(capsys, [*bare, "--steps", "4"])
    assert code == 0, err
    ckpt = torch.load(out / "checkpoint_last.pt", weights_only=True)
    saved = ckpt["extra"]["train_config"]
    assert ckpt["step"] == 4 and saved["lr"] == 0.02 and saved["batch_size"] == 6
    assert saved["model_overrides"] == {"num_slots": 3} and saved["clip_grad_norm"] is None

    code, _, err = _run(capsys, [*bare, "--steps", "6", "--set", "num_slots=3"])  # lr not repeated
    assert code == 2 and "lr: 0.02 -> 0.01" in err and err.count("\n") == 1, err
    code, _, err = _run(capsys, [*bare, "--steps", "6", "--batch-size", "4"])  # given: not overridden
    assert code == 2 and "batch_size: 6 -> 4" in err, err


@pytest.mark.parametrize(
    "model_config, header, expected",
    [
        ({"use_geco": True}, "step,loss,geco_beta", True),
        ({"use_geco": False}, "step,loss,geco_beta", False),
        ({"num_slots": 4}, "step,loss,nll,kl,lr", False),  # Slot Attention: no GECO field, no GECO terms
        ({"num_slots": 4}, "step,loss,geco_lambda", True),  # no field, but GECO terms logged
    ],
)
def test_the_summary_names_geco_only_for_runs_that_use_it(tmp_path: Path, model_config, header, expected) -> None:
    import json

    from emorl_eval.commands.train import _uses_geco

    (tmp_path / "config.json").write_text(json.dumps({"model_config": model_config}))
    assert _uses_geco(tmp_path, header.split(",")) is expected
