"""The ledger on real databases: SQLite files always, PostgreSQL when MISTRAL_REVIEW_TEST_DATABASE_URL is set."""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.server.ledger import MIGRATIONS, AcceptResult, Job, Ledger, NewJob, ReviewRow

PG_ENV = "MISTRAL_REVIEW_TEST_DATABASE_URL"
MONTH = "2025-01"
WORKERS, ATTEMPTS, STEP, LIMIT = 8, 20, 0.01, 1.00


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} must be set in CI so the ledger is tested on PostgreSQL")
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """The same test on each database."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    """A migrated ledger."""
    led = Ledger(url)
    led.migrate()
    yield led
    led.close()


def _new(delivery: str, *, head: str = "aaa", pr: int = 1, repo: str = "o/r", forced: bool = False,
         installation: int | None = 7) -> NewJob:
    return NewJob(delivery, "pull_request", repo, pr, head, installation, forced)


def _queued(led: Ledger, delivery: str, now: float = 100.0, **kw: Any) -> str:
    result = led.accept(_new(delivery, **kw), now=now)
    assert result.duplicate is None and result.job_id
    return result.job_id


def _month_row(url: str, scope: str, key: str, month: str) -> tuple[int, int]:
    """Read (spent, reserved) micro-dollars straight from the table."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT spent_micros, reserved_micros FROM budget_months "
                                   "WHERE scope = :s AND key = :k AND month = :m"),
                           {"s": scope, "k": key, "m": month}).one()
    engine.dispose()
    return int(row[0]), int(row[1])


def test_migrate_is_idempotent_and_concurrent(url: str) -> None:
    results: list[int] = []

    def run() -> None:
        led = Ledger(url)
        results.append(led.migrate())
        led.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = Ledger(url)
    assert results == [len(MIGRATIONS)] * 4
    assert again.migrate() == again.migrate() == len(MIGRATIONS) == 4
    again.ping()


def test_for_data_dir_makes_the_file(tmp_path: Path) -> None:
    led = Ledger.for_data_dir(tmp_path / "a" / "b")
    assert led.migrate() == 4
    assert (tmp_path / "a" / "b" / "ledger.db").is_file()


def test_ping_raises_when_the_database_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(Exception):
        Ledger(f"sqlite:///{tmp_path / 'missing' / 'ledger.db'}").ping()


def test_accept_dedupes_by_delivery_and_by_head(ledger: Ledger) -> None:
    first = _queued(ledger, "d1")
    assert ledger.accept(_new("d1"), now=101) == AcceptResult(None, "delivery")
    assert ledger.accept(_new("d2"), now=101) == AcceptResult(first, "head")
    assert ledger.accept(_new("d2"), now=102) == AcceptResult(None, "delivery")  # d2 was recorded
    forced = _queued(ledger, "d3", forced=True)
    assert forced != first
    assert ledger.accept(_new("d4", forced=True), now=103) == AcceptResult(forced, "head")
    other_head = _queued(ledger, "d5", head="bbb")
    ledger.finish(other_head, state="failed", detail="boom", now=104)
    assert ledger.accept(_new("d6", head="bbb"), now=105).duplicate is None  # a failed head may be retried
    job = ledger.job(first)
    assert job is not None and (job.state, job.attempts, job.forced, job.installation_id) == ("queued", 0, False, 7)
    assert ledger.job("nope") is None


def test_accept_races_make_one_job_per_head(ledger: Ledger) -> None:
    barrier, results = threading.Barrier(6), []

    def deliver(i: int) -> None:
        barrier.wait()
        results.append(ledger.accept(_new(f"race-{i}"), now=100.0))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.duplicate or "" for r in results) == ["", "head", "head", "head", "head", "head"]
    assert len({r.job_id for r in results}) == 1
    assert ledger.job_counts()["queued"] == 1


def test_claim_is_exclusive_and_an_expired_lease_can_be_reclaimed(ledger: Ledger) -> None:
    job_id = _queued(ledger, "d1")
    job = ledger.claim(job_id, worker="w1", lease_s=30, now=110)
    assert isinstance(job, Job) and (job.state, job.worker, job.lease_until, job.attempts) == ("running", "w1", 140, 1)
    assert ledger.claim(job_id, worker="w2", lease_s=30, now=120) is None
    assert ledger.renew(job_id, worker="w1", lease_s=30, now=130)  # lease now until 160
    assert ledger.claim(job_id, worker="w2", lease_s=30, now=150) is None
    again = ledger.claim(job_id, worker="w2", lease_s=30, now=161)
    assert again is not None and (again.worker, again.attempts) == ("w2", 2)
    assert not ledger.renew(job_id, worker="w1", lease_s=30, now=162)
    ledger.finish(job_id, state="done", detail="posted", now=170)
    done = ledger.job(job_id)
    assert done is not None and (done.state, done.detail, done.lease_until) == ("done", "posted", None)
    assert ledger.claim(job_id, worker="w3", lease_s=30, now=500) is None
    assert ledger.claim("missing", worker="w3", lease_s=30, now=500) is None
    with pytest.raises(ValueError):
        ledger.finish(job_id, state="running", now=171)


def test_expired_finds_dead_running_and_stale_queued_jobs(ledger: Ledger) -> None:
    dead = _queued(ledger, "d1", now=100, head="h1")
    alive = _queued(ledger, "d2", now=100, head="h2")
    stale = _queued(ledger, "d3", now=100, head="h3")
    fresh = _queued(ledger, "d4", now=190, head="h4")
    finished = _queued(ledger, "d5", now=100, head="h5")
    assert ledger.claim(dead, worker="w", lease_s=10, now=101)
    assert ledger.claim(alive, worker="w", lease_s=500, now=101)
    ledger.finish(finished, state="done", now=102)
    assert set(ledger.expired(now=200, queued_grace_s=60)) == {dead, stale}
    assert fresh not in ledger.expired(now=200, queued_grace_s=60)
    assert ledger.job_counts() == {"queued": 2, "running": 2, "done": 1, "dropped": 0, "failed": 0}


def test_newer_job_supersedes_unless_dropped(ledger: Ledger) -> None:
    old = ledger.job(_queued(ledger, "d1", now=100, head="h1"))
    new = ledger.job(_queued(ledger, "d2", now=200, head="h2"))
    _queued(ledger, "d3", now=300, pr=2)  # another PR does not count
    assert old is not None and new is not None
    assert ledger.newer_job_exists(old)
    assert not ledger.newer_job_exists(new)
    assert ledger.cancel_pr("o/r", 1, now=250) == 2
    assert not ledger.newer_job_exists(old)


def test_cancel_pr_and_installation_drop_only_queued_jobs(ledger: Ledger) -> None:
    a = _queued(ledger, "d1", head="h1")
    b = _queued(ledger, "d2", head="h2")
    running = _queued(ledger, "d3", head="h3")
    other_pr = _queued(ledger, "d4", pr=2, installation=8)
    assert ledger.claim(running, worker="w", lease_s=30, now=101)
    assert ledger.cancel_pr("o/r", 1, now=110) == 2
    assert [ledger.job(j).state for j in (a, b, running, other_pr)] == ["dropped", "dropped", "running", "queued"]
    assert ledger.cancel_pr("o/r", 1, now=111) == 0
    assert ledger.cancel_installation(8, now=112) == 1
    assert ledger.job(other_pr).state == "dropped"


def test_budgets_are_upserted_and_unknown_scopes_refused(ledger: Ledger) -> None:
    assert ledger.month_spend("repo", "o/r", MONTH) == (0.0, None)
    ledger.set_budget("repo", "o/r", 1.5)
    ledger.set_budget("repo", "o/r", 2.25)
    assert ledger.month_spend("repo", "o/r", MONTH) == (0.0, 2.25)
    with pytest.raises(ValueError):
        ledger.set_budget("org", "o", 1.0)
    with pytest.raises(ValueError):
        ledger.reserve(repo="o/r", installation_id=None, month="2025-1", amount=0.1)


def test_reserve_is_all_or_nothing_across_scopes(ledger: Ledger, url: str) -> None:
    ledger.set_budget("repo", "o/r", 0.10)
    ledger.set_budget("installation", "7", 0.05)
    assert ledger.reserve(repo="o/r", installation_id=7, month=MONTH, amount=0.04)
    assert not ledger.reserve(repo="o/r", installation_id=7, month=MONTH, amount=0.02)  # installation is full
    assert _month_row(url, "repo", "o/r", MONTH) == (0, 40_000)  # the repo kept nothing of the failed try
    assert ledger.reserve(repo="o/r", installation_id=9, month=MONTH, amount=0.06)  # no cap on installation 9
    assert not ledger.reserve(repo="o/r", installation_id=None, month=MONTH, amount=0.01)  # repo is full
    assert ledger.reserve(repo="o/r", installation_id=7, month="2025-02", amount=0.05)  # a new month
    assert ledger.reserve(repo="free/repo", installation_id=None, month=MONTH, amount=1000.0)  # no budget at all


def test_settle_moves_a_reservation_into_spent(ledger: Ledger, url: str) -> None:
    ledger.set_budget("repo", "o/r", 0.10)
    assert ledger.reserve(repo="o/r", installation_id=7, month=MONTH, amount=0.05)
    ledger.settle(repo="o/r", installation_id=7, month=MONTH, reserved=0.05, spent=0.03)
    assert ledger.month_spend("repo", "o/r", MONTH) == (0.03, 0.10)
    assert ledger.month_spend("installation", "7", MONTH) == (0.03, None)
    assert _month_row(url, "repo", "o/r", MONTH) == (30_000, 0)
    assert ledger.reserve(repo="o/r", installation_id=7, month=MONTH, amount=0.07)
    assert not ledger.reserve(repo="o/r", installation_id=7, month=MONTH, amount=0.000001)
    ledger.settle(repo="o/r", installation_id=None, month="2025-03", reserved=0.5, spent=0.01)  # nothing held
    assert _month_row(url, "repo", "o/r", "2025-03") == (10_000, 0)


def _warm() -> None:
    """Pool initializer: importing this module is all the warming a child needs."""


def _reserve_in_a_process(url: str, barrier: Any) -> int | str:
    """Child process: reserve $0.01 ATTEMPTS times, settling every other success; return successes."""
    try:
        led = Ledger(url)
        barrier.wait(timeout=60)
        ok = 0
        for i in range(ATTEMPTS):
            if led.reserve(repo="o/r", installation_id=7, month=MONTH, amount=STEP):
                ok += 1
                if i % 2:
                    led.settle(repo="o/r", installation_id=7, month=MONTH, reserved=STEP, spent=STEP)
        led.close()
        return ok
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        return repr(exc)


@pytest.fixture(scope="module")
def processes() -> Iterator[tuple[Any, Any]]:
    """WORKERS spawned processes (started once, for both databases) and a barrier to start them together."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(WORKERS, initializer=_warm) as pool:
        yield pool, manager.Barrier(WORKERS)


def test_concurrent_processes_never_overspend(ledger: Ledger, url: str, processes: tuple[Any, Any]) -> None:
    pool, barrier = processes
    ledger.set_budget("repo", "o/r", LIMIT)
    outcomes = pool.starmap(_reserve_in_a_process, [(url, barrier)] * WORKERS, chunksize=1)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    granted = sum(outcomes) * round(STEP * 1_000_000)
    assert granted <= round(LIMIT * 1_000_000)
    assert sum(outcomes) == round(LIMIT / STEP)  # more was asked than fits, so the cap is met exactly
    for scope, key in (("repo", "o/r"), ("installation", "7")):
        spent, reserved = _month_row(url, scope, key, MONTH)
        assert spent + reserved == granted and spent > 0


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def _review(pr: int, finished: float, cost: float, **kw: Any) -> ReviewRow:
    return ReviewRow("o/r", pr, f"https://github.com/o/r/pull/{pr}", "abc", 42, 1000, 200, cost, False,
                     finished - 30, finished, "posted", **kw)


def test_reviews_are_recorded_filtered_and_totalled(ledger: Ledger) -> None:
    jan = _review(1, _utc(2025, 1, 31, 23, 59, 59), 0.001234, job_id="j1", installation_id=7, model="small")
    feb = _review(1, _utc(2025, 2, 1), 0.002)
    other = _review(2, _utc(2025, 1, 15), 0.5)
    for row in (feb, jan, other):
        ledger.record_review(row)
    assert ledger.reviews(repo="o/r", pr_number=1) == [jan, feb]
    assert ledger.reviews(month="2025-01") == [other, jan]
    assert ledger.reviews(month="2025-02") == [feb]
    assert ledger.reviews(repo="x/y") == []
    prompt, completion, cost = ledger.pr_totals("o/r", 1)
    assert (prompt, completion) == (2000, 400) and cost == pytest.approx(0.003234)
    assert ledger.pr_totals("o/r", 99) == (0, 0, 0.0)


def test_a_crashed_workers_hold_is_released_when_the_job_is_claimed_again(ledger: Ledger) -> None:
    ledger.set_budget("repo", "o/r", 1.0)
    job_id = ledger.accept(_new("d-held"), now=100).job_id
    assert job_id and ledger.claim(job_id, worker="w1", lease_s=10, now=100)
    assert ledger.reserve(repo="o/r", installation_id=7, month="2026-11", amount=0.6, job_id=job_id)
    assert not ledger.reserve(repo="o/r", installation_id=7, month="2026-11", amount=0.6)  # w1 holds 0.6
    # w1 dies without settling; its lease runs out and w2 takes the job over: the hold comes back.
    assert ledger.claim(job_id, worker="w2", lease_s=10, now=200)
    assert ledger.reserve(repo="o/r", installation_id=7, month="2026-11", amount=0.6, job_id=job_id)
    ledger.settle(repo="o/r", installation_id=7, month="2026-11", reserved=0.6, spent=0.25, job_id=job_id)
    assert ledger.month_spend("repo", "o/r", "2026-11") == (0.25, 1.0)
    assert ledger.reserve(repo="o/r", installation_id=7, month="2026-11", amount=0.75)
