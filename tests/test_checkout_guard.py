"""The session check that a test run adds no file to the checkout (tests/checkout_guard.py) sees
new untracked and ignored files, one entry per file, and leaves caches aside."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import checkout_guard


def _git_repo(root: Path) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("build/\n/reports/*\n__pycache__/\n")
    (root / "reports").mkdir()
    (root / "reports" / "old.png").write_bytes(b"x")
    return root


def test_new_ignored_files_are_found_inside_an_existing_ignored_folder(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo")
    before = checkout_guard.untracked_files(repo)
    assert before is not None and "reports/old.png" in before
    (repo / "reports" / "figures").mkdir()
    (repo / "reports" / "figures" / "dci_importance_run.png").write_bytes(b"x")
    (repo / "build" / "lib").mkdir(parents=True)
    (repo / "build" / "lib" / "x.py").write_text("")
    (repo / "pkg" / "__pycache__").mkdir(parents=True)
    (repo / "pkg" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"")
    after = checkout_guard.untracked_files(repo)
    assert checkout_guard.added_files(before, after) == ["build/lib/x.py", "reports/figures/dci_importance_run.png"]


def test_a_folder_that_is_not_a_checkout_gives_no_snapshot(tmp_path: Path) -> None:
    assert checkout_guard.untracked_files(tmp_path) is None


@pytest.mark.parametrize("path, cache", [("a/__pycache__/b.pyc", True), (".pytest_cache/v/x", True),
                                         (".hypothesis/examples/x", True), ("reports/figures/a.png", False),
                                         ("build/", False)])
def test_caches_are_left_aside(path: str, cache: bool) -> None:
    assert checkout_guard.is_cache(path) is cache


def test_the_session_hooks_are_installed() -> None:
    from tests import conftest

    assert callable(conftest.pytest_sessionstart) and callable(conftest.pytest_sessionfinish)
