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

# one thread per pytest-xdist worker (the CI machine has 2 cores), two otherwise
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """One summary line for all tests skipped because ../shared is missing."""
    from tests.shared_files import fold_skip_location

    outcome = yield
    fold_skip_location(outcome.get_result())


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
def shared_dir() -> Path:
    """``../shared`` beside the checkout or ``$EMORL_SHARED`` (fixtures, published outputs); the
    test skips with one line when it is missing (fails under EMORL_EVAL_REQUIRE_SHARED=1, as in CI)."""
    from tests.shared_files import require_shared

    return require_shared()
