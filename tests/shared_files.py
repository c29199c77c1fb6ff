"""Where the tests find ``../shared`` (reference files not committed here: the authors' published
outputs, official-format checkpoints) and what they do when it is missing.

On a fresh clone without ``../shared`` the tests that need it skip with one line naming the
missing folder and ``EMORL_SHARED``; CI has it and sets ``EMORL_EVAL_REQUIRE_SHARED=1`` (``.ci/run``),
which turns those skips into failures, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: environment variable naming the shared folder (default: ``../shared`` beside the checkout)
SHARED_VAR = "EMORL_SHARED"
#: environment variable that turns a missing shared folder into a failure (set by .ci/run)
REQUIRE_VAR = "EMORL_EVAL_REQUIRE_SHARED"


def fold_skip_location(report: pytest.TestReport) -> None:
    """Report every "shared folder missing" skip at one location (this module), so pytest's
    ``-ra`` summary folds them into one line instead of one per test function."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3 and SHARED_VAR + "=" in str(longrepr[2]):
        report.longrepr = (__file__, 1, longrepr[2])


def shared_root() -> Path:
    """The shared folder: ``$EMORL_SHARED``, else ``../shared`` beside the checkout."""
    return Path(os.environ.get(SHARED_VAR, REPO_ROOT.parent / "shared"))


def missing_message(path: Path) -> str:
    """One line: what is missing and how to provide it."""
    return (f"{path} not found: reference files (published outputs, official-format checkpoints) "
            f"are not part of the clone; set {SHARED_VAR}=/path/to/shared to run these tests")


def require_shared(root: Path | None = None) -> Path:
    """``root`` (default :func:`shared_root`) when it is a folder; otherwise skip the calling test
    with :func:`missing_message`, or fail it when ``$EMORL_EVAL_REQUIRE_SHARED`` is set."""
    root = shared_root() if root is None else Path(root)
    if root.is_dir():
        return root
    if os.environ.get(REQUIRE_VAR, "") not in ("", "0"):
        pytest.fail(f"{missing_message(root)} ({REQUIRE_VAR} is set)", pytrace=False)
    pytest.skip(missing_message(root))
