"""Every command through the same faults: counts out of range and existing single-file outputs
are refused before any work, with a usage line or one ``error:`` line, never a traceback.
New commands with count options belong in the tables below."""

from __future__ import annotations

from pathlib import Path

import pytest

from emorl_eval import cli

CKPT = "{ckpt}"
DATA = "{data}"

#: (argv, option whose value is bad); every count option of every command
BAD_COUNTS = [
    (["evaluate", "--ckpt", CKPT, "--data", DATA, "--num", "0"], "--num"),
    (["evaluate", "--ckpt", CKPT, "--data", DATA, "--batch-size", "0"], "--batch-size"),
    (["evaluate", "--ckpt", CKPT, "--data", DATA, "--refinement-steps", "-1"], "--refinement-steps"),
    (["refine-sweep", "--ckpt", CKPT, "--data", DATA, "--num", "-3"], "--num"),
    (["dci", "--ckpt", CKPT, "--data", DATA, "--num", "0"], "--num"),
    (["leakage", "--ckpt", CKPT, "--data", DATA, "--num", "-3"], "--num"),
    (["leakage", "--ckpt", CKPT, "--data", DATA, "--steps", "1"], "--steps"),
    (["leakage", "--ckpt", CKPT, "--data", DATA, "--dims-per-slot", "0"], "--dims-per-slot"),
    (["figures", "decompose", "--ckpt", CKPT, "--data", DATA, "--num", "0"], "--num"),
    (["figures", "traverse", "--ckpt", CKPT, "--data", DATA, "--steps", "-2"], "--steps"),
    (["figures", "traverse", "--ckpt", CKPT, "--data", DATA, "--slot", "0"], "--slot"),
    (["figures", "stages", "--ckpt", CKPT, "--data", DATA, "--index", "-1"], "--index"),
    (["report", "runs", "--data", DATA, "--num-images", "-2"], "--num-images"),
    (["report", "runs", "--leakage-images", "0"], "--leakage-images"),
    (["timing", "--models", "emorl", "--repeats", "0"], "--repeats"),
    (["timing", "--models", "emorl", "--warmup", "-1"], "--warmup"),
    (["train", "--model", "emorl", "--data", DATA, "--out", "r", "--steps", "-1"], "--steps"),
    (["train", "--model", "emorl", "--data", DATA, "--out", "r", "--log-every", "0"], "--log-every"),
    (["train", "--model", "emorl", "--data", DATA, "--out", "r", "--max-minutes", "0"], "--max-minutes"),
    (["data", "generate", "--dataset", "tetrominoes", "--num", "0", "--out", "x.h5"], "--num"),
    (["data", "show", DATA, "--num", "0"], "--num"),
    (["demo", "--steps", "0"], "--steps"),
    (["zoo", "add", "runs/x", "--name", "x", "--data", DATA, "--num", "0"], "--num"),
]


def _invoke(capsys, argv: list[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
        raise SystemExit(0)
    return exit_info.value.code, capsys.readouterr().err


def _fill(argv: list[str], ckpt: Path, data: Path) -> list[str]:
    return [a.replace(CKPT, str(ckpt)).replace(DATA, str(data)) for a in argv]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from emorl_eval import models
    from emorl_eval.models.checkpoints import save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("ck") / "c.pt", models.build("emorl", "tetrominoes_cpu"), step=0)


@pytest.mark.parametrize("argv, option", BAD_COUNTS, ids=[" ".join(a[:2]) + " " + o for a, o in BAD_COUNTS])
def test_counts_out_of_range_are_refused_before_any_work(capsys, tmp_path, monkeypatch, ckpt, tiny_h5,
                                                         argv, option) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _invoke(capsys, _fill(argv, ckpt, tiny_h5))
    assert code == 2, err
    assert option in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_data_generate_refuses_an_existing_file_unless_overwrite(capsys, tmp_path) -> None:
    precious = tmp_path / "f.txt"
    precious.write_text("precious\n")
    code, err = _invoke(capsys, ["data", "generate", "--dataset", "tetrominoes", "--num", "10", "--out", str(precious)])
    assert code == 2 and err.startswith("error: ") and "--overwrite" in err and err.count("\n") == 1
    assert precious.read_text() == "precious\n"
    code, err = _invoke(capsys, ["data", "generate", "--dataset", "tetrominoes", "--num", "10", "--out",
                                 str(precious), "--overwrite"])
    assert code == 0, err
    assert precious.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_train_out_naming_an_existing_file_is_one_line(capsys, tmp_path, tiny_h5) -> None:
    target = tmp_path / "f.txt"
    target.write_text("x\n")
    code, err = _invoke(capsys, ["train", "--model", "emorl", "--preset", "tetrominoes_cpu", "--data", str(tiny_h5),
                                 "--steps", "1", "--out", str(target), "--no-progress"])
    assert code == 2 and "is a file, not a run folder" in err and err.count("\n") == 1
    assert target.read_text() == "x\n"
