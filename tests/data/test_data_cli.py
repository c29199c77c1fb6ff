"""`emorl-eval data generate|show|info` on tiny files, and their error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from emorl_eval.cli import cli
from emorl_eval.data import ObjectsDataset

REPO = Path(__file__).resolve().parents[2]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_generate_info_show(tmp_path):
    out = tmp_path / "data" / "t.h5"
    r = run("data", "generate", "--dataset", "tetrominoes", "--num", "20", "--seed", "1",
            "--test-fraction", "0.5", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "train 10, test 10" in r.output
    assert len(ObjectsDataset(out, "train")) == 10

    r = run("data", "info", str(out))
    assert r.exit_code == 0, r.output
    assert "tetrominoes" in r.output and "shape (discrete, 19 classes)" in r.output
    assert "{3: 10}" in r.output

    png = tmp_path / "fig" / "t.png"
    r = run("data", "show", str(out), "--num", "3", "--out", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generate_option(tmp_path):
    out = tmp_path / "t.h5"
    r = run("data", "generate", "--dataset", "tetrominoes", "--num", "4", "--out", str(out), "--test-fraction", "0.5",
            "--option", "shapes=[2]")
    assert r.exit_code == 0, r.output
    assert (ObjectsDataset(out)[0]["factors"][:, 2] == 2).all()


@pytest.mark.parametrize("args, message", [
    (["data", "info", "{tmp}/missing.h5"], "missing.h5: no such file"),
    (["data", "show", "{tmp}/missing.h5"], "missing.h5: no such file"),
    (["data", "generate", "--dataset", "tetrominoes", "--num", "3", "--out", "{tmp}/x.h5", "--option", "bogus=1"],
     "has no option bogus"),
    (["data", "convert", "{tmp}/missing.tfrecords", "--dataset", "clevr", "--out", "{tmp}/x.h5"],
     "missing.tfrecords: no such file"),
])
def test_errors_are_one_line(tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, str(REPO / "cli.py"), *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: ") and message in proc.stderr


def test_show_empty_split_is_an_error(tmp_path):
    out = tmp_path / "t.h5"
    run("data", "generate", "--dataset", "tetrominoes", "--num", "4", "--out", str(out), "--test-fraction", "0")
    from emorl_eval.errors import DataError

    with pytest.raises(DataError, match="split 'test' has 0 images"):
        run("data", "show", str(out))
