"""Shared pytest fixtures. Everything is seeded; nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# Property tests draw the same examples on every run (CI must be deterministic) and keep no
# example database between runs; no per-example deadline on a shared 2-core machine.
settings.register_profile(
    "deterministic", derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("deterministic")

REPO_ROOT = Path(__file__).resolve().parents[1]
_CHECKOUT_BEFORE = pytest.StashKey[object]()

# one thread per pytest-xdist worker (the CI machine has 2 cores), two otherwise
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """One summary line for all tests skipped because ../shared is missing."""
    from tests.shared_files import fold_skip_location

    outcome = yield
    fold_skip_location(outcome.get_result())


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Snapshot the checkout's untracked and ignored files (tests/checkout_guard.py)."""
    from tests import checkout_guard

    if checkout_guard.enabled() and not _is_xdist_worker(session.config):
        session.config.stash[_CHECKOUT_BEFORE] = checkout_guard.untracked_files(REPO_ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when the tests added a file to the checkout (they write under tmp_path)."""
    from tests import checkout_guard

    if not checkout_guard.enabled() or _is_xdist_worker(session.config):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    before = session.config.stash.get(_CHECKOUT_BEFORE, None)
    after = checkout_guard.untracked_files(REPO_ROOT) if before is not None else None
    if before is None or after is None:
        if checkout_guard.is_checkout(REPO_ROOT) and reporter is not None:  # say so, never pass silently
            reporter.write_line("\ncheckout check skipped: git status failed (is another git command running?)",
                                yellow=True)
        return
    added = checkout_guard.added_files(before, after)
    if added:
        lines = [f"the test run added {len(added)} file(s) to the checkout (tests write under tmp_path; "
                 f"{checkout_guard.SWITCH_VAR}=0 turns this check off):"] + [f"  {p}" for p in added[:20]]
        if reporter is not None:
            reporter.write_line("\n" + "\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 generated Tetrominoes (8 train, 8 test) for command tests; modules may override it."""
    from emorl_eval.data import generate_h5

    return generate_h5(tmp_path_factory.mktemp("data") / "tetro.h5", "tetrominoes", num=16, seed=0,
                       test_fraction=0.5)


@pytest.fixture(scope="session")
def tiny_sa_and_genesis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """``(data, sa, genesis)``: 12 generated 16x16 Multi-dSprites (6 test) and random-init tiny Slot
    Attention and GENESIS checkpoints (steps 3 and 5) for commands that compare several models."""
    from emorl_eval import models
    from emorl_eval.data import generate_h5
    from emorl_eval.models.checkpoints import save_checkpoint

    root = tmp_path_factory.mktemp("two_models")
    data = generate_h5(root / "d16.h5", "multi_dsprites", num=12, seed=0, test_fraction=0.5, size=16)
    torch.manual_seed(0)
    sa = save_checkpoint(root / "sa" / "c.pt", models.build("slot_attention", "tiny"), step=3)
    gen = save_checkpoint(root / "genesis" / "c.pt", models.build("genesis", "tiny"), step=5)
    return data, sa, gen


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout or ``$EMORL_SHARED`` (fixtures, published outputs); the
    test skips with one line when it is missing (fails under EMORL_EVAL_REQUIRE_SHARED=1, as in CI)."""
    from tests.shared_files import require_shared

    return require_shared()


@pytest.fixture
def adam_lrs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The learning rate of every ``torch.optim.Adam.step`` taken during the test, in order."""
    lrs: list[float] = []
    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return lrs
