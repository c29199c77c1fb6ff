"""Every command through the same faults: counts out of range and existing single-file outputs
are refused before any work, with a usage line or one ``error:`` line, never a traceback.
New commands with count options belong in the tables below."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from emorl_eval import cli
from tests.cli_run import run_cli

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
    (["leakage-compare", "--ckpt", CKPT, "--data", DATA, "--num", "0"], "--num"),
    (["leakage-compare", "--ckpt", CKPT, "--data", DATA, "--steps", "1"], "--steps"),
    (["leakage-compare", "--ckpt", CKPT, "--data", DATA, "--dims-per-slot", "-1"], "--dims-per-slot"),
    (["fates", "--ckpt", CKPT, "--data", DATA, "--num", "0"], "--num"),
    (["fates", "--ckpt", CKPT, "--data", DATA, "--batch-size", "0"], "--batch-size"),
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
    code, _, err = run_cli(argv, capsys)
    return code, err


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
    assert code == 2 and "exists and is not a folder" in err and err.count("\n") == 1
    assert target.read_text() == "x\n"


OUT = "{out}"

#: (argv, output option) for every output option of every command; OUT is replaced by a path
#: the command cannot write (below a file, or inside a read-only folder)
BAD_OUTPUTS = [
    (["evaluate", "--ckpt", CKPT, "--data", DATA, "--out", OUT], "--out"),
    (["refine-sweep", "--ckpt", CKPT, "--data", DATA, "--out", OUT], "--out"),
    (["refine-sweep", "--ckpt", CKPT, "--data", DATA, "--figure", OUT + "/f.png"], "--figure"),
    (["dci", "--ckpt", CKPT, "--data", DATA, "--out", OUT], "--out"),
    (["dci", "--ckpt", CKPT, "--data", DATA, "--figure", OUT + "/f.png"], "--figure"),
    (["leakage", "--ckpt", CKPT, "--data", DATA, "--out", OUT + "/leak"], "--out"),
    (["leakage-compare", "--ckpt", CKPT, "--data", DATA, "--out", OUT + "/leak"], "--out"),
    (["fates", "--ckpt", CKPT, "--data", DATA, "--out", OUT + "/fates"], "--out"),
    (["figures", "decompose", "--ckpt", CKPT, "--data", DATA, "--out", OUT + "/f.png"], "--out"),
    (["figures", "traverse", "--ckpt", CKPT, "--data", DATA, "--out", OUT + "/f.png"], "--out"),
    (["figures", "stages", "--ckpt", CKPT, "--data", DATA, "--out", OUT + "/f.png"], "--out"),
    (["symmetry", "--ckpt", CKPT, "--out", OUT], "--out"),
    (["check-model", "--ckpt", CKPT, "--out", OUT], "--out"),
    (["report", "runs", "--out", OUT], "--out"),
    (["ablation-table", "runs", "--out", OUT + "/ablation"], "--out"),
    (["timing", "--models", "emorl", "--out", OUT + "/timing"], "--out"),
    (["train", "--model", "emorl", "--data", DATA, "--out", OUT], "--out"),
    (["demo", "--out", OUT], "--out"),
    (["data", "generate", "--dataset", "tetrominoes", "--num", "4", "--out", OUT + "/d.h5"], "--out"),
    (["data", "show", DATA, "--out", OUT + "/f.png"], "--out"),
    (["data", "convert", DATA, "--dataset", "tetrominoes", "--out", OUT + "/d.h5"], "--out"),
    (["zoo", "add", "runs/x", "--name", "x", "--data", DATA, "--zoo-dir", OUT], "--zoo-dir"),
]


def _output_options(command: click.Command, path: str = ""):
    """(command path, option) of every option of every command whose name says it is an output."""
    ctx = click.Context(command)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            yield from _output_options(command.get_command(ctx, name), f"{path} {name}".strip())
        return
    for param in command.params:
        if isinstance(param, click.Option) and {"--out", "--figure", "--zoo-dir"} & set(param.opts):
            yield path, param


def test_every_output_option_is_checked_before_any_work_and_is_in_the_table() -> None:
    from emorl_eval.commands._common import OutputPath

    tabled = {(" ".join(a[: 2 if a[0] in ("figures", "data", "zoo") else 1]), o) for a, o in BAD_OUTPUTS}
    for path, option in _output_options(cli.cli):
        assert isinstance(option.type, OutputPath), f"{path} {option.opts[0]} is not an OutputPath"
        assert (path, option.opts[0]) in tabled, f"add `{path} {option.opts[0]}` to BAD_OUTPUTS"


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only folder (a read-only bind mount); skipped where mounting is not allowed."""
    import subprocess

    source, target = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    target.mkdir()
    ok = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True).returncode == 0
    ok = ok and subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], capture_output=True).returncode == 0
    if not ok:
        subprocess.run(["umount", str(target)], capture_output=True)
        pytest.skip("cannot make a read-only bind mount here (needs root)")
    yield target
    subprocess.run(["umount", str(target)], capture_output=True)


def _check_refused(capsys, tmp_path, monkeypatch, ckpt, data, argv, option, out, phrase) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, err = _invoke(capsys, [a.replace(OUT, str(out)) for a in _fill(argv, ckpt, data)])
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert err.strip().count("\n") == 0 and line.startswith("error: ") and option in line and phrase in line, err
    assert not any(work.iterdir())  # refused before any work: nothing written


@pytest.mark.parametrize("argv, option", BAD_OUTPUTS, ids=[" ".join(a[:2]) + " " + o for a, o in BAD_OUTPUTS])
def test_an_output_below_a_file_is_one_line_before_any_work(capsys, tmp_path, monkeypatch, ckpt, tiny_h5,
                                                            argv, option) -> None:
    blocker = tmp_path / "f.txt"
    blocker.write_text("x\n")
    _check_refused(capsys, tmp_path, monkeypatch, ckpt, tiny_h5, argv, option, blocker / "sub", "is a file, not a folder")
    assert blocker.read_text() == "x\n"


@pytest.mark.parametrize("argv, option", BAD_OUTPUTS, ids=[" ".join(a[:2]) + " " + o for a, o in BAD_OUTPUTS])
def test_a_read_only_output_is_one_line_before_any_work(capsys, tmp_path, monkeypatch, ckpt, tiny_h5,
                                                        read_only_dir, argv, option) -> None:
    _check_refused(capsys, tmp_path, monkeypatch, ckpt, tiny_h5, argv, option, read_only_dir / "sub", "cannot write in")
