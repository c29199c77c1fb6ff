"""Which code produced a result: the git commit of the checkout emorl-eval runs from."""

from __future__ import annotations

import subprocess
from pathlib import Path


def code_commit(mark_dirty: bool = True) -> str | None:
    """``git rev-parse HEAD`` of the checkout this code runs from, with ``+dirty`` appended when
    tracked files have uncommitted changes (``mark_dirty``); None outside a git checkout."""
    where = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        if not head or not mark_dirty:
            return head or None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head
