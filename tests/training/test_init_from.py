"""``train --init-from``: a new run from another run's weights, its config check, step counter,
LR re-warm and recorded lineage; ``--resume`` of such a run stays bit-exact."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from emorl_eval.errors import CheckpointError, ConfigError
from emorl_eval.models.checkpoints import file_sha256
from emorl_eval.training import resolve_train_config, train
from emorl_eval.training.checkpointing import LAST
from tests.cli_run import run_cli
from tests.training.doubles import TinyModel
from tests.training.test_resume import Killed, _assert_same_state


def _config(data: Path, out: Path, steps: int, sets=(), init_from=None, seed=0):
    return resolve_train_config(
        "tiny", str(data), str(out), "small", steps=steps, log_every=2, ckpt_every=4, device="cpu",
        deterministic=True, progress=False, sets=["warmup_steps=2", *sets], init_from=init_from, seed=seed,
    )


@pytest.fixture
def parent(tiny_data: Path, tmp_path: Path) -> Path:
    """A finished 6-step run of the tiny double (latent_dim 4 instead of the preset's 3)."""
    return train(_config(tiny_data, tmp_path / "parent", 6, sets=["latent_dim=4"], seed=3))


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_child_starts_from_the_parents_weights_and_step(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    # an LR re-warm of a billion steps keeps the child's one step at lr ~1e-11: weights stay the parent's
    child = train(_config(tiny_data, tmp_path / "child", 7, sets=["latent_dim=4", "rewarm_steps=1000000000"],
                          init_from=str(parent)))
    before, after = _state(parent / LAST), _state(child / LAST)
    assert torch.load(child / LAST, weights_only=True)["step"] == 7
    for key in before:
        if not key.startswith("geco_"):
            assert torch.allclose(before[key], after[key], atol=1e-8), key
    # the GECO-like buffers come from the parent too: one update from a fresh model's 0.55 could
    # not reach the parent's value, which only rises while the target is out of reach
    assert before["geco_beta"] > 1.0
    assert after["geco_beta"] >= before["geco_beta"]


def test_step_counter_continues_and_lr_is_rewarmed(parent: Path, tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    seen: list[int] = []
    real = TinyModel.on_train_step
    monkeypatch.setattr(TinyModel, "on_train_step", lambda self, step: (seen.append(step), real(self, step)))
    child = train(_config(tiny_data, tmp_path / "child", 10, sets=["latent_dim=4", "rewarm_steps=4"],
                          init_from=str(parent)))
    assert seen == [6, 7, 8, 9]
    rows = pd.read_csv(child / "metrics.csv")
    assert rows["step"].tolist() == [8, 10]
    # the LR of the last step of each row: steps 7 and 9 -> re-warm factors 2/4 and 4/4 of lr 1e-2
    assert rows["lr"].tolist() == pytest.approx([0.5e-2, 1e-2])


def test_lineage_is_recorded_over_generations(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    child = train(_config(tiny_data, tmp_path / "child", 10, sets=["latent_dim=4"], init_from=str(parent)))
    config = json.loads((child / "config.json").read_text())
    lineage = config["lineage"]
    assert lineage["parent"] == str(parent)
    assert lineage["parent_sha256"] == file_sha256(parent / LAST)
    assert lineage["parent_steps"] == 6 and lineage["parent_cumulative_steps"] == 6
    assert config["train"]["init_from"] == str(parent)
    extra = torch.load(child / LAST, weights_only=True)["extra"]["lineage"]
    assert extra["cumulative_steps"] == 10
    parent_minutes = torch.load(parent / LAST, weights_only=True)["extra"]["train_seconds"] / 60
    assert extra["cumulative_minutes"] >= round(parent_minutes, 2)

    grandchild = train(_config(tiny_data, tmp_path / "grandchild", 13, sets=["latent_dim=4"],
                               init_from=str(child / LAST)))
    record = torch.load(grandchild / LAST, weights_only=True)["extra"]["lineage"]
    assert record["parent_steps"] == 10 and record["parent_cumulative_steps"] == 10
    assert record["cumulative_steps"] == 13
    assert [a["parent"] for a in record["ancestors"]] == [str(parent)]


def test_a_differing_config_is_refused_unless_given_again(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"differs from the parent's in latent_dim \(parent 4, this run 3\)"):
        train(_config(tiny_data, tmp_path / "a", 10, init_from=str(parent)))
    assert not (tmp_path / "a" / LAST).exists()
    # latent_dim given again, and a deliberate change of another field: accepted
    child = train(_config(tiny_data, tmp_path / "b", 8, sets=["latent_dim=4", "noise=0.5"], init_from=str(parent)))
    assert json.loads((child / "config.json").read_text())["model_config"]["noise"] == 0.5


def test_parent_errors_are_one_line(parent: Path, tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the parent is at step 6 already"):
        train(_config(tiny_data, tmp_path / "a", 6, sets=["latent_dim=4"], init_from=str(parent)))
    with pytest.raises(CheckpointError, match="no such file or run folder"):
        train(_config(tiny_data, tmp_path / "b", 8, init_from=str(tmp_path / "nothere")))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        # the shape changes with the config: refused by the load, not silently re-initialised
        train(_config(tiny_data, tmp_path / "c", 8, sets=["latent_dim=5"], init_from=str(parent)))
    official = tmp_path / "official.pth"
    torch.save({"step": 1, "model": {}, "model_opt": {}, "kl_beta": 1.0}, official)
    with pytest.raises(CheckpointError, match="not an emorl-eval checkpoint"):
        train(_config(tiny_data, tmp_path / "d", 8, init_from=str(official)))


def test_resume_of_a_child_is_bit_identical(parent: Path, tiny_data: Path, tmp_path: Path, monkeypatch) -> None:
    sets = ["latent_dim=4", "rewarm_steps=3"]
    full = train(_config(tiny_data, tmp_path / "full", 15, sets=sets, init_from=str(parent)))

    real_after_backward = TinyModel.after_backward

    def dying_after_backward(self, output):
        if self.train_steps[-1] == 11:  # after the checkpoint at step 10
            raise Killed
        real_after_backward(self, output)

    monkeypatch.setattr(TinyModel, "after_backward", dying_after_backward)
    killed = tmp_path / "killed"
    with pytest.raises(Killed):
        train(_config(tiny_data, killed, 15, sets=sets, init_from=str(parent)))
    monkeypatch.setattr(TinyModel, "after_backward", real_after_backward)
    # the resumed command does not repeat --init-from: the run continues as itself
    train(_config(tiny_data, killed, 15, sets=sets), resume=True)

    a, b = torch.load(full / LAST, weights_only=True), torch.load(killed / LAST, weights_only=True)
    _assert_same_state(a["state_dict"], b["state_dict"])
    assert a["extra"]["lineage"]["cumulative_steps"] == b["extra"]["lineage"]["cumulative_steps"] == 15
    assert pd.read_csv(full / "metrics.csv").drop(columns=["steps_per_s", "images_per_s"]).equals(
        pd.read_csv(killed / "metrics.csv").drop(columns=["steps_per_s", "images_per_s"]))
    assert json.loads((killed / "config.json").read_text())["lineage"]["parent"] == str(parent)


def test_cli_takes_model_preset_and_seed_from_the_parent(parent: Path, tiny_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "child"
    code, _, err = run_cli(["train", "--init-from", str(parent), "--set", "latent_dim=4", "--data", str(tiny_data),
                            "--out", str(out), "--steps", "8", "--device", "cpu", "--no-progress"], capsys)
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert (config["model_name"], config["preset"], config["seed"]) == ("tiny", "small", 3)


@pytest.mark.parametrize("extra, message", [
    (["--model", "emorl", "--batch-size", "4"], "holds model 'tiny', not 'emorl'"),
])
def test_cli_errors_are_one_line(parent: Path, tiny_data: Path, tmp_path: Path, capsys, extra, message) -> None:
    code, _, err = run_cli(["train", "--init-from", str(parent), "--data", str(tiny_data),
                            "--out", str(tmp_path / "x"), "--steps", "8", "--device", "cpu", *extra], capsys)
    assert code != 0 and message in err
    assert len(err.strip().splitlines()) == 1, err


def test_cli_resumes_with_the_starting_command(parent: Path, tiny_data: Path, tmp_path: Path, capsys) -> None:
    """The stop message says "the same command and --resume": that works for a child run, and a
    bare --resume takes the model, preset, seed and parent from the run folder."""
    out = tmp_path / "child"
    start = ["train", "--init-from", str(parent), "--set", "latent_dim=4", "--data", str(tiny_data),
             "--out", str(out), "--device", "cpu", "--no-progress"]
    code, _, err = run_cli([*start, "--steps", "8"], capsys)
    assert code == 0, err
    code, _, err = run_cli([*start, "--steps", "10", "--resume"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["train", "--set", "latent_dim=4", "--data", str(tiny_data), "--out", str(out),
                            "--device", "cpu", "--no-progress", "--steps", "12", "--resume"], capsys)
    assert code == 0, err
    ckpt = torch.load(out / LAST, weights_only=True)
    assert ckpt["step"] == 12 and ckpt["extra"]["lineage"]["parent"] == str(parent)
    assert ckpt["model_name"] == "tiny"

    code, _, err = run_cli([*start, "--steps", "14", "--resume", "--init-from", str(out)], capsys)
    assert code != 0 and f"was started with --init-from {parent}" in err
    assert len(err.strip().splitlines()) == 1, err


def test_the_parent_is_read_once_per_file_version(parent: Path, tiny_data: Path, tmp_path: Path, capsys,
                                                  monkeypatch) -> None:
    """The CLI reads the parent for its defaults, the trainer to load it: one read of the file."""
    import emorl_eval.models.checkpoints as checkpoints

    reads: list[str] = []
    real = checkpoints.read_checkpoint

    def counting(path, *args, **kwargs):
        reads.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "read_checkpoint", counting)
    code, _, err = run_cli(["train", "--init-from", str(parent), "--set", "latent_dim=4", "--data", str(tiny_data),
                            "--out", str(tmp_path / "child"), "--steps", "8", "--device", "cpu", "--no-progress"],
                           capsys)
    assert code == 0, err
    assert reads.count(LAST) == 1, reads
    # a rewritten parent (a run that went on) is read again, and its new hash recorded
    train(_config(tiny_data, parent, 7, sets=["latent_dim=4"], seed=3), resume=True)
    reads.clear()
    code, _, err = run_cli(["train", "--init-from", str(parent), "--set", "latent_dim=4", "--data", str(tiny_data),
                            "--out", str(tmp_path / "child2"), "--steps", "9", "--device", "cpu", "--no-progress"],
                           capsys)
    assert code == 0, err
    assert reads.count(LAST) == 1, reads
    lineage = json.loads((tmp_path / "child2" / "config.json").read_text())["lineage"]
    assert lineage["parent_sha256"] == file_sha256(parent / LAST) and lineage["parent_steps"] == 7
