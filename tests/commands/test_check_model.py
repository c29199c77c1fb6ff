"""`emorl-eval check-model`: table, exit status, files, bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from emorl_eval import models
from tests.cli_run import run_cli
from emorl_eval.models.checkpoints import save_checkpoint

SPEC = "tests.models.broken_plugins:{}"


def _invoke(capsys, argv: list[str]) -> tuple[int, str, str]:
    return run_cli(["check-model", *argv], capsys)


def _row(out: str, check: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(check + " "))


def test_help_states_the_exit_rule_and_the_spec_forms(capsys) -> None:
    code, out, _ = _invoke(capsys, ["--help"])
    assert code == 0 and "Exit status" in out and "package.module:Class" in out and "--generic-weights" in out


def test_a_conforming_plugin_passes_and_the_files_match_the_table(capsys, tmp_path: Path) -> None:
    code, out, err = _invoke(capsys, [SPEC.format("Conforming"), "--out", str(tmp_path)])
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("all ") and "checks pass" in out
    assert "pass" in _row(out, "checkpoint round trip") and SPEC.format("Conforming") in _row(out, "checkpoint round trip")
    table = pd.read_csv(tmp_path / "check_model_conforming.csv")
    assert set(table["status"]) == {"pass"} and len(table) >= 10
    assert "| mask normalisation | pass |" in (tmp_path / "check_model_conforming.md").read_text()


@pytest.mark.parametrize("cls_name, check, reason", [
    ("UnnormalisedMasks", "mask normalisation", "do not sum to 1"),
    ("NaNLoss", "finite outputs", "NaN"),
    ("WrongLatentShape", "output shapes", "expected [2, 3, 16]"),
    ("IgnoresGenerator", "determinism", "differ"),
])
def test_a_broken_plugin_exits_1_naming_the_check_and_the_reason(capsys, cls_name, check, reason) -> None:
    code, out, _ = _invoke(capsys, [SPEC.format(cls_name), "--no-symmetry"])
    assert code == 1
    row = _row(out, check)
    assert "FAIL" in row and reason in row
    assert f"FAILED: " in out and check in out.strip().splitlines()[-1]


def test_a_symmetry_breach_exits_1(capsys) -> None:
    code, out, _ = _invoke(capsys, [SPEC.format("SlotOrderBreach")])
    assert code == 1 and "FAIL" in _row(out, "symmetry: decoder slot equivariance")


def test_a_checkpoint_is_checked_with_its_own_weights(capsys, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "run" / "checkpoint_last.pt", models.build("slot_attention", "tiny"), step=5)
    code, out, err = _invoke(capsys, ["--ckpt", str(path)])
    assert code == 0, err
    assert "checkpoint" in err and "pass" in _row(out, "symmetry: decoder slot equivariance")


@pytest.mark.parametrize("argv, phrase", [
    ([], "give exactly one of SPEC"),
    (["emorl", "--ckpt", "zoo:emorl-tetrominoes-nogeco-s1"], "give exactly one of SPEC"),
    (["no_such_pkg.mod:Model"], "cannot import 'no_such_pkg.mod'"),
    (["tests.models.broken_plugins:NotAModel"], "not a subclass"),
    (["nope"], "unknown model 'nope'"),
    (["slot_attention", "--preset", "nope"], "unknown preset 'nope'"),
])
def test_bad_input_is_one_line_with_status_2(capsys, argv, phrase) -> None:
    code, _, err = _invoke(capsys, argv)
    assert code == 2 and err.startswith("error: ") and phrase in err and err.strip().count("\n") == 0
