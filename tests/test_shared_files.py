"""Tests that need ``../shared`` skip with one line on a clone without it, run when it is there,
and fail instead of skipping where CI requires it (``EMORL_EVAL_REQUIRE_SHARED=1`` in .ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_files import REQUIRE_VAR, SHARED_VAR, require_shared

REPO = Path(__file__).resolve().parents[1]


def test_missing_shared_folder_skips_with_one_line_naming_the_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(REQUIRE_VAR, raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        require_shared(tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "nowhere") in message and SHARED_VAR in message


def test_missing_shared_folder_fails_where_it_is_required(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(REQUIRE_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_VAR):
        require_shared(tmp_path / "nowhere")


def test_present_shared_folder_is_returned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(REQUIRE_VAR, "1")
    assert require_shared(tmp_path) == tmp_path


def _pytest(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/metrics/test_published_outputs.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_fresh_clone_skips_the_shared_tests_with_one_summary_line(tmp_path: Path) -> None:
    result = _pytest({SHARED_VAR: str(tmp_path / "no_shared"), REQUIRE_VAR: ""})
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and SHARED_VAR in skipped[0] and "no_shared" in skipped[0], result.stdout
    assert "error" not in result.stdout.splitlines()[-1]

    required = _pytest({SHARED_VAR: str(tmp_path / "no_shared"), REQUIRE_VAR: "1"})
    assert required.returncode == 1 and REQUIRE_VAR in required.stdout


def test_ci_requires_the_shared_tests_to_run() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert f"export {REQUIRE_VAR}=1" in ci
    assert SHARED_VAR in (REPO / "README.md").read_text()
