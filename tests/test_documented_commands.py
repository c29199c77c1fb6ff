"""Every ``emorl-eval`` example in README.md's bash blocks and in every ``--help`` text parses
with the real CLI: the verbs and options exist, take the right number of values and accept the
values shown (a dry-run parse: nothing is run, paths are not opened)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from emorl_eval import cli
from emorl_eval.commands import _common

REPO = Path(__file__).resolve().parents[1]


def _joined_lines(text: str) -> list[str]:
    """Lines with ``\\`` continuations joined, stripped."""
    return [line.strip() for line in text.replace("\\\n", " ").splitlines()]


def readme_examples() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    found = []
    for block in blocks:
        for line in _joined_lines(block):
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("emorl-eval "):
                    found.append(part)
    return found


def _walk(command: click.Command, ctx: click.Context):
    yield command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, click.Context(sub, info_name=name, parent=ctx))


def help_examples() -> list[str]:
    root = click.Context(cli.cli, info_name="emorl-eval")
    found = []
    for command, ctx in _walk(cli.cli, root):
        for line in _joined_lines(command.help or ""):
            line = line.removeprefix("Example:").strip()
            if line.startswith("emorl-eval ") and "..." not in line:
                found.append(line.split("  #")[0].split(" (a run folder")[0].strip())
    return found


def _remaining(ctx: click.Context) -> list[str]:
    """The tokens a group leaves for its sub-command (click 8: protected_args + args)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*getattr(ctx, "protected_args", []), *ctx.args]


EXAMPLES = sorted(set(readme_examples()) | set(help_examples()))


def test_there_are_examples_to_check() -> None:
    assert len(readme_examples()) >= 3 and len(help_examples()) >= 8


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_parses(example: str, monkeypatch) -> None:
    # types that touch the file system or the zoo accept any value in a dry run
    monkeypatch.setattr(click.Path, "convert", lambda self, value, param, ctx: value)
    monkeypatch.setattr(_common.CheckpointPath, "convert", lambda self, value, param, ctx: value)
    args = shlex.split(example)[1:]
    ctx = cli.cli.make_context("emorl-eval", list(args), resilient_parsing=False)
    command: click.Command = cli.cli
    rest = _remaining(ctx)
    while isinstance(command, click.Group):
        assert rest, f"{example}: no sub-command"
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"{example}: unknown command {rest[0]!r}"
        ctx = sub.make_context(rest[0], rest[1:], parent=ctx)
        command, rest = sub, _remaining(ctx) if isinstance(sub, click.Group) else []
    assert not ctx.args, f"{example}: unexpected arguments {ctx.args}"
