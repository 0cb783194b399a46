"""Shared fixtures: real diffs, the tokenizer (loaded once per session), the prompts, PostgreSQL and Redis.

PostgreSQL and Redis start once per session, on free ports in throwaway folders, the first time a test module that
reads MISTRAL_REVIEW_TEST_DATABASE_URL or MISTRAL_REVIEW_TEST_REDIS_URL runs, when their binaries are installed and
the variable is not already set. Without the binaries those tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pytest

from bot.llm.tokens import TekkenCounter, default_counter
from bot.review.prompting import Prompts, load_prompts
from tests.services import Service, start_postgres, start_redis

# The GitHub and Mistral double fixtures (`gh`, `mistral`) of the PR-flow tests.
pytest_plugins = ["tests.pullrequests"]

FIXTURES = Path(__file__).parent / "fixtures"
DIFFS = sorted((FIXTURES / "diffs").glob("*.diff"))


@pytest.fixture(scope="session")
def counter() -> TekkenCounter:
    """The process-wide Tekken counter."""
    return default_counter()


@pytest.fixture(scope="session")
def prompts() -> Prompts:
    """The prompt templates."""
    return load_prompts()


def diff_bytes(name: str) -> bytes:
    """Return a real diff from tests/fixtures/diffs."""
    return (FIXTURES / "diffs" / name).read_bytes()


# The longest-running files, longest first. They run before the rest, so that under pytest-xdist (the README's
# command runs one file per process at a time) the longest file never starts last and leaves one core idle.
LONGEST_FIRST = ("test_server_races.py", "test_action.py", "test_server.py", "test_gitlab_server.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the longest-running files to the front, each file's own order kept."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


SERVICES: dict[str, Callable[[], Service | None]] = {
    "MISTRAL_REVIEW_TEST_DATABASE_URL": start_postgres,
    "MISTRAL_REVIEW_TEST_REDIS_URL": start_redis,
}
_started: dict[str, Service | None] = {}
_failed: dict[str, str] = {}


@lru_cache(maxsize=None)
def _reads(path: Path) -> tuple[str, ...]:
    text = path.read_text(encoding="utf-8")
    return tuple(name for name in SERVICES if name in text)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start the services a test module reads, before its fixtures run; a failure to start fails, never skips."""
    for name in _reads(item.path):
        if name in _failed:
            raise RuntimeError(_failed[name])
        if name in _started or os.environ.get(name):
            continue
        try:
            _started[name] = service = SERVICES[name]()
        except Exception as exc:
            _failed[name] = f"could not start the service for {name}: {exc}"
            raise
        if service is not None:
            os.environ[name] = service.url
            item.config.add_cleanup(service.stop)
