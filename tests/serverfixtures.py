"""The webhook server's test fixtures: the doubles and the server as real processes on SQLite or PostgreSQL + Redis.

A test module takes the fixtures into its namespace (`server = serverfixtures.server`); under CI=true a missing
PostgreSQL or Redis fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.server.ledger import Ledger
from tests.conftest import FIXTURES
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.pullrequests import BASE_SHA, diff_files
from tests.servers import SECRET, Server, stop_all

DB_ENV, REDIS_ENV = "MISTRAL_REVIEW_TEST_DATABASE_URL", "MISTRAL_REVIEW_TEST_REDIS_URL"
COSTLY = {"prompt_tokens": 800, "completion_tokens": 3500, "total_tokens": 4300}  # $0.00222 a call


def _postgres_database(url: str) -> tuple[str, str]:
    """Create a throwaway database; return its URL and name."""
    import psycopg

    name = f"mr_test_{uuid.uuid4().hex[:10]}"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}", name


def _drop_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
    assert double.schema_errors == [] and double.crashes == []


@pytest.fixture(scope="module")
def mistral() -> Iterator[MistralDouble]:
    with MistralDouble() as double:
        yield double
    assert double.schema_errors == []


@pytest.fixture(scope="module", params=["one-machine", "scale-out"])
def server(request: pytest.FixtureRequest, gh: GitHubDouble, mistral: MistralDouble,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp(request.param)
    repo = f"octo/{request.param}-{uuid.uuid4().hex[:6]}"
    gh.add_repo(repo)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "GITHUB_WEBHOOK_SECRET": SECRET,
           "GITHUB_TOKEN": "ghp_test", "GITHUB_API_URL": gh.url, "MISTRAL_API_KEY": "test-key",
           "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_DATA_DIR": str(data_dir),
           "MISTRAL_REVIEW_LEASE_S": "2", "MISTRAL_REVIEW_REAP_EVERY_S": "0.3", "MISTRAL_REVIEW_QUEUED_GRACE_S": "30",
           "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S": "0", "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01",
           "MISTRAL_REVIEW_MONTHLY_BUDGETS": f"repo:{repo}=1000", "MISTRAL_REVIEW_DASHBOARD_TOKEN": "dash-token"}
    with running_server(request.param, env, data_dir) as running:
        running.repo = repo  # type: ignore[attr-defined]
        yield running


@contextmanager
def running_server(kind: str, env: dict[str, str], data_dir: Path) -> Iterator[Server]:
    """Run the server on one machine (SQLite, Huey on SQLite) or scaled out (a fresh PostgreSQL database and Redis)."""
    dropped = None
    if kind == "scale-out":
        if not (os.environ.get(DB_ENV) and os.environ.get(REDIS_ENV)):
            if os.environ.get("CI") == "true":
                pytest.fail(f"{DB_ENV} and {REDIS_ENV} must be set in CI (.ci/run starts PostgreSQL and Redis)")
            pytest.skip(f"scale-out path needs PostgreSQL and Redis: apt-get install redis-server postgresql "
                        f"(or set {DB_ENV} and {REDIS_ENV})")
        env["DATABASE_URL"], dropped = _postgres_database(os.environ[DB_ENV])
        env["REDIS_URL"] = os.environ[REDIS_ENV]
    running = Server(env, data_dir)
    try:
        yield running
    finally:
        running.stop()
        if hasattr(running, "ledger"):
            running.ledger.close()
        if dropped:
            _drop_database(os.environ[DB_ENV], dropped)


@pytest.fixture()
def stop_workers(server: Server) -> Iterator[None]:
    yield
    stop_all(server.workers)
    server.workers.clear()


def ledger_of(server: Server) -> Ledger:
    """The server's ledger, opened once: the tests poll it often, and a fresh engine each time costs a connection."""
    if not hasattr(server, "ledger"):
        server.ledger = (Ledger(server.env["DATABASE_URL"]) if "DATABASE_URL" in server.env  # type: ignore[attr-defined]
                         else Ledger.for_data_dir(server.data_dir))
    return server.ledger  # type: ignore[attr-defined,no-any-return]


def pr_event(server: Server, number: int, head: str, action: str = "opened") -> dict[str, Any]:
    payload = json.loads((FIXTURES / "webhooks" / "pull_request.opened.json").read_text())
    payload["action"] = action
    payload["repository"]["full_name"] = server.repo  # type: ignore[attr-defined]
    payload["pull_request"]["number"] = number
    payload["pull_request"]["head"]["sha"] = head
    return payload


def open_pull(gh: GitHubDouble, server: Server, number: int, head: str, diff: str = "tiny-one-line-fix.diff") -> None:
    gh.add_pull(server.repo, number, base_sha=BASE_SHA, head_sha=head, files=diff_files(diff))  # type: ignore[attr-defined]


def jobs_settled(server: Server, n: int) -> bool:
    counts = ledger_of(server).job_counts()
    return counts["queued"] == counts["running"] == 0 and sum(counts[s] for s in ("done", "dropped", "failed")) >= n


def posted_reviews(gh: GitHubDouble, server: Server, number: int) -> list[dict[str, Any]]:
    return [r for r in gh.reviews(server.repo, number) if r["state"] != "PENDING"]  # type: ignore[attr-defined]

def jobs_of(server: Server, number: int) -> list[Any]:
    return ledger_of(server).jobs_for(server.repo, number)  # type: ignore[attr-defined]


def this_month() -> str:
    return time.strftime("%Y-%m", time.gmtime())
