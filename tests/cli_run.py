"""Running the real CLI in-process from tests."""

from __future__ import annotations

import pytest

from emorl_eval import cli


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``emorl-eval ARGS`` through ``cli.main`` (one-line errors and exit codes as for users):
    (exit code, stdout, stderr)."""
    try:
        cli.main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
