"""The test suite writes only under ``tmp_path``: a snapshot of the checkout's untracked and
ignored files (``git status --ignored``) before the session and after it must agree, caches aside.

``tests/conftest.py`` takes the snapshots (on the xdist controller only) and fails the session,
listing the new paths, when a run added a file. ``EMORL_EVAL_CHECKOUT_CHECK=0`` turns the check off
(e.g. while other work writes into the same working tree during the run).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

#: path components of files a test run may leave behind (interpreter and pytest caches)
CACHE_PARTS = ("__pycache__", ".pytest_cache", ".hypothesis")
CACHE_SUFFIXES = (".pyc", ".pyo")
SWITCH_VAR = "EMORL_EVAL_CHECKOUT_CHECK"


def enabled() -> bool:
    """False when ``$EMORL_EVAL_CHECKOUT_CHECK`` is ``0``."""
    return os.environ.get(SWITCH_VAR, "1") != "0"


def is_cache(path: str) -> bool:
    """True for Python bytecode and pytest/hypothesis caches."""
    parts = Path(path.rstrip("/")).parts
    return any(p in CACHE_PARTS for p in parts) or path.endswith(CACHE_SUFFIXES)


def is_checkout(repo: Path) -> bool:
    """True when ``repo`` is the top of a git checkout."""
    return (Path(repo) / ".git").exists()


def untracked_files(repo: Path, attempts: int = 3) -> set[str] | None:
    """Every untracked or ignored file below ``repo`` (one entry per file, caches excluded), or
    None when ``repo`` is not a git checkout, git is missing, or ``git status`` failed
    ``attempts`` times (e.g. while another git command holds the index lock)."""
    if not is_checkout(repo):
        return None
    for attempt in range(attempts):
        try:
            result = subprocess.run(
                ["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=all", "-z"],
                cwd=repo, capture_output=True, text=True, timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode == 0:
            break
        time.sleep(1.0 + attempt)
    else:
        return None
    paths = [e[3:] for e in result.stdout.split("\0") if e[:2] in ("??", "!!")]
    files: set[str] = set()
    for path in paths:
        if is_cache(path):
            continue
        if not path.endswith("/"):
            files.add(path)
            continue
        # git names a wholly ignored folder once: list its files, so a new file in it shows
        for folder, dirs, names in os.walk(repo / path):
            dirs[:] = [d for d in dirs if d not in CACHE_PARTS]
            rel = Path(folder).relative_to(repo)
            files.update(p for p in (f"{rel.as_posix()}/{n}" for n in names) if not is_cache(p))
    return files


def added_files(before: set[str], after: set[str]) -> list[str]:
    """Files of ``after`` missing from ``before``, sorted."""
    return sorted(after - before)
