"""The ``emorl-eval symmetry`` command: table, files, exit status."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from emorl_eval import cli
from emorl_eval import models
from tests.symmetry.toys import ToySlotModel


@pytest.fixture
def fake_registry(monkeypatch):
    built = {}

    def build(name, preset=None, **overrides):
        built.update(name=name, preset=preset, overrides=overrides)
        return ToySlotModel(breach=None if name == "good" else "cumsum", claimed=name != "ordered")

    monkeypatch.setattr(models, "build", build)
    return built


def _run(args):
    return CliRunner().invoke(cli.cli, ["symmetry", *args])


def test_help_states_the_exit_rule():
    result = _run(["--help"])
    assert result.exit_code == 0
    assert "Exit status" in result.output and "not claimed / violated" in result.output
    assert "--float64" in result.output and "--seeds" in result.output


def test_symmetric_model_exits_0_and_writes_csv_and_markdown(tmp_path, fake_registry):
    result = _run(["--model", "good", "--preset", "tiny", "--seeds", "0,1", "--batch-size", "2",
                   "--set", "num_slots=3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert fake_registry == {"name": "good", "preset": "tiny", "overrides": {"num_slots": 3}}
    assert "holds" in result.output and "all properties hold" in result.output
    table = pd.read_csv(tmp_path / "symmetry_toy_tiny_float32.csv")
    assert table["passed"].all() and (table["trials"] == 6).all()
    assert "exit status 0" in (tmp_path / "symmetry_toy_tiny_float32.md").read_text()


def test_violation_exits_1_claimed_or_not(tmp_path, fake_registry):
    result = _run(["--model", "bad", "--seeds", "0", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "violated" in result.output
    result = _run(["--model", "ordered", "--seeds", "0", "--float64", "--generic-weights", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "not claimed / violated" in result.output
    table = pd.read_csv(tmp_path / "symmetry_toy_generic_float64.csv")
    assert (table["dtype"] == "float64").all()
    slot_rows = table[table["property"] != "input-order invariance"]
    assert not slot_rows["claimed"].any() and "not claimed / violated" in set(slot_rows["verdict"])


def test_checkpoint_is_loaded_with_its_preset(tmp_path, monkeypatch):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"x")
    seen = {}

    def load(path, preset=None, map_location="cpu"):
        seen.update(path=path, preset=preset)
        return ToySlotModel()

    monkeypatch.setattr(models, "load", load)
    result = _run(["--ckpt", str(ckpt), "--preset", "clevr6", "--seeds", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert seen == {"path": ckpt, "preset": "clevr6"}
    assert list((tmp_path / "o").glob("symmetry_toy_*_float32.md"))


@pytest.mark.parametrize(
    "args,message",
    [([], "exactly one of"), (["--model", "x", "--ckpt", "PLACEHOLDER"], "exactly one of"),
     (["--model", "good", "--seeds", "a,b"], "comma-separated"), (["--model", "good", "--set", "k"], "KEY=VALUE")],
)
def test_bad_input_exits_2_without_traceback(tmp_path, fake_registry, args, message, capsys):
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"x")
    args = [str(ckpt) if a == "PLACEHOLDER" else a for a in args]
    with pytest.raises(SystemExit) as exc:
        cli.main(["symmetry", *args, "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_console_entry_point_propagates_exit_status(tmp_path, fake_registry):
    # cli.main (the installed `emorl-eval`) must exit 1 on a violation, not only click's runner
    with pytest.raises(SystemExit) as exc:
        cli.main(["symmetry", "--model", "ordered", "--seeds", "0", "--out", str(tmp_path)])
    assert exc.value.code == 1
    cli.main(["symmetry", "--model", "good", "--seeds", "0", "--out", str(tmp_path)])  # returns: exit 0


@pytest.mark.slow
def test_official_checkpoint_end_to_end(tmp_path, shared_dir):
    ckpt = shared_dir / "fixtures" / "official_format_emorl_tetrominoes_init.pth"
    result = _run(["--ckpt", str(ckpt), "--preset", "tetrominoes", "--seeds", "0", "--batch-size", "1",
                   "--num-perms", "1", "--generic-weights", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (csv_path,) = tmp_path.glob("symmetry_emorl_*_generic_float32.csv")
    table = pd.read_csv(csv_path)
    assert {"posterior_layer", "prior", "refinement", "inference", "decoder", "loss", "input_order"} <= set(table["component"])
    assert table["passed"].all()


def test_outputs_are_named_after_the_run_and_record_the_checkpoint(tmp_path):
    """Two runs' checkpoint_last.pt never overwrite each other; the CSV names its source."""
    import hashlib

    from emorl_eval.models.checkpoints import save_checkpoint

    for run in ("A", "B"):
        folder = tmp_path / "runs" / run
        save_checkpoint(folder / "checkpoint_last.pt", models.build("emorl", "tetrominoes_cpu", num_slots=2,
                                                                     image_size=(8, 8)), step=0)
        (folder / "config.json").write_text("{}")
        result = _run(["--ckpt", str(folder / "checkpoint_last.pt"), "--seeds", "0", "--num-perms", "1",
                       "--batch-size", "1", "--out", str(tmp_path / "sym")])
        assert result.exit_code in (0, 1), result.output
    written = sorted(p.name for p in (tmp_path / "sym").glob("*.csv"))
    assert written == ["symmetry_emorl_A_float32.csv", "symmetry_emorl_B_float32.csv"]
    table = pd.read_csv(tmp_path / "sym" / "symmetry_emorl_A_float32.csv")
    ckpt = tmp_path / "runs" / "A" / "checkpoint_last.pt"
    assert (table["checkpoint"] == str(ckpt)).all()
    assert (table["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()).all()


def test_unwritable_out_fails_before_the_checks(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _run(["--model", "emorl", "--preset", "tetrominoes_cpu", "--out", str(blocker / "sym")])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
