"""--device on a machine without CUDA: one line naming the torch build, exit 2, for every command
that has the option; ``auto`` picks CUDA when it is present (emorl_eval/devices.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emorl_eval import models
from emorl_eval.devices import resolve_device
from emorl_eval.errors import CheckpointError, ConfigError
from tests.cli_run import run_cli

ZOO = "zoo:emorl-tetrominoes-nogeco-s1"


@pytest.fixture
def no_cuda(monkeypatch) -> None:
    """A CPU-only torch build, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)


def _commands(h5: Path, tmp: Path) -> list[list[str]]:
    model = ["--ckpt", ZOO, "--data", str(h5)]
    return [
        ["evaluate", *model, "--num", "2", "--out", str(tmp / "e")],
        ["refine-sweep", *model, "--num", "2", "--out", str(tmp / "r"), "--figure", str(tmp / "r.png")],
        ["dci", *model, "--num", "4", "--out", str(tmp / "d"), "--figure", str(tmp / "d.png")],
        ["figures", "decompose", *model, "--num", "2", "--out", str(tmp / "f.png")],
        ["figures", "traverse", *model, "--out", str(tmp / "t.png")],
        ["figures", "stages", *model, "--out", str(tmp / "s.png")],
        ["leakage", *model, "--out", str(tmp / "l")],
        ["leakage-compare", *model, "--out", str(tmp / "lc")],
        ["fates", *model, "--out", str(tmp / "fates")],
        ["timing", "--models", "slot_attention", "--sizes", "16", "--out", str(tmp / "timing")],
        ["report", str(tmp), "--out", str(tmp / "rep")],
        ["train", "--model", "slot_attention", "--preset", "tiny", "--data", str(h5), "--steps", "1",
         "--out", str(tmp / "run"), "--no-progress"],
    ]


@pytest.mark.parametrize("index", range(12))
def test_cuda_without_cuda_is_one_line_naming_the_torch_build(index: int, no_cuda, capsys, tmp_path: Path,
                                                              tiny_h5: Path) -> None:
    argv = _commands(tiny_h5, tmp_path)[index] + ["--device", "cuda"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (argv[0], out, err)
    assert err.count("\n") == 1 and err.startswith("error: --device cuda: CUDA is not available"), err
    assert f"torch {torch.__version__}" in err and "CPU-only" in err and "corrupt" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "e").exists()


def test_every_device_option_is_checked(capsys) -> None:
    """Every command with --device is in the list above (a new one needs a row)."""
    import click

    from emorl_eval import cli

    found = set()
    root = click.Context(cli.cli, info_name="emorl-eval")
    for name in cli.cli.list_commands(root):
        command = cli.cli.get_command(root, name)
        subs = command.commands.values() if isinstance(command, click.Group) else [command]
        for sub in subs:
            if any("--device" in p.opts for p in sub.params):
                found.add(name if sub is command else f"{name} {sub.name}")
    listed = {" ".join(a[:2]) if a[0] == "figures" else a[0] for a in _commands(Path("x"), Path("y"))}
    assert found == listed


def test_auto_picks_cuda_when_present(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="no CUDA device 5 \\(2 visible\\)"):
        resolve_device("cuda:5")


def test_auto_falls_back_to_the_cpu(no_cuda) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="not a torch device"):
        resolve_device("gpu0")


def test_loading_onto_cuda_without_cuda_does_not_call_the_file_corrupt(no_cuda) -> None:
    from emorl_eval import zoo

    path = zoo.resolve(ZOO)
    with pytest.raises(CheckpointError, match="CUDA is not available") as info:
        models.load(path, map_location="cuda")
    assert "corrupt" not in str(info.value)
