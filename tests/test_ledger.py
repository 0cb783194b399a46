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

from bot.core.spend import Usage
from bot.server.ledger import AcceptResult, Job, Ledger, NewJob, ReviewRow, head_revision
from tests.conftest import FIXTURES

PG_ENV = "MISTRAL_REVIEW_TEST_DATABASE_URL"
MONTH = "2025-01"
IN_MONTH, IN_FEBRUARY = 1_736_942_400.0, 1_739_577_600.0  # 2025-01-15 12:00 and 2025-02-15 00:00 UTC
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
        pytest.skip(f"the ledger's PostgreSQL tests need PostgreSQL: apt-get install postgresql (or set {PG_ENV})")
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


BUDGETS = {("repo", "o/r"): 0.10, ("installation", "7"): 0.05}


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    """A migrated ledger, with monthly caps on repo o/r and installation 7."""
    led = Ledger(url, budgets=BUDGETS)
    led.migrate()
    yield led
    led.close()


def _new(delivery: str, *, head: str = "aaa", pr: int = 1, repo: str = "o/r", rereview: bool = False,
         installation: int | None = 7) -> NewJob:
    return NewJob(delivery, "pull_request", repo, pr, head, installation, rereview)


def _queued(led: Ledger, delivery: str, now: float = 100.0, **kw: Any) -> str:
    result = led.accept(_new(delivery, **kw), now=now)
    assert result.duplicate is None and result.job_id
    return result.job_id


def _running(led: Ledger, delivery: str, now: float = 100.0, **kw: Any) -> Job:
    job = led.claim(_queued(led, delivery, now, **kw), worker="w", lease_s=30, now=now)
    assert job is not None
    return job


def _month_row(url: str, scope: str, key: str, month: str) -> tuple[int, int]:
    """Read (spent, reserved) micro-dollars straight from the table."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT spent_micros, reserved_micros FROM budget_months "
                                   "WHERE scope = :s AND key = :k AND month = :m"),
                           {"s": scope, "k": key, "m": month}).one()
    engine.dispose()
    return int(row[0]), int(row[1])


def test_a_postgresql_session_left_idle_in_a_transaction_is_ended_by_the_server(postgresql_url: str) -> None:
    ledger = Ledger(postgresql_url)
    with ledger._engine.connect() as conn:  # what a worker frozen mid-transaction would leave behind
        timeout = conn.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar_one()
        path = conn.execute(sa.text("SHOW search_path")).scalar_one()
    ledger.close()
    assert timeout == "30s" and path.startswith("ledger_test_")  # the URL's own options are kept


def test_migrate_is_idempotent_and_concurrent(url: str) -> None:
    results: list[str] = []

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
    assert results == [head_revision()] * 4
    assert again.migrate() == again.migrate() == head_revision() == "0006"
    again.ping()


def test_for_data_dir_makes_the_file(tmp_path: Path) -> None:
    led = Ledger.for_data_dir(tmp_path / "a" / "b")
    assert led.migrate() == head_revision()
    assert (tmp_path / "a" / "b" / "ledger.db").is_file()


def test_a_ledger_made_before_alembic_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    (tmp_path / "ledger.db").write_bytes((FIXTURES / "ledger-pre-split.sqlite").read_bytes())
    led = Ledger.for_data_dir(tmp_path, budgets={("repo", "octo/old"): 0.01})
    assert led.migrate() == head_revision()
    (review,) = led.reviews(repo="octo/old")
    assert (review.pr_number, review.cost_usd, review.model, review.changed_lines) == (1, 0.0042, "mistral-small-2603", 12)
    (call,) = led.calls(repo="octo/old")  # the old review's cost became its one call, linked to it
    assert (call.cost_usd, call.prompt_tokens, call.review_id) == (0.0042, 9000, 1)
    assert led.pr_totals("octo/old", 1) == (9000, 800, 0.0042)
    assert led.month_spend("repo", "octo/old", "2023-11") == (0.0042, 0.01)  # the cap now comes from configuration
    done, queued = led.jobs_for("octo/old", 1)[0], led.jobs_for("octo/old", 2)[0]
    assert (done.state, done.attempts, queued.state) == ("done", 1, "queued")
    # New work runs on the upgraded ledger: the old queued job is claimed, reserves, books a call, finishes.
    job = led.claim(queued.id, worker="new", lease_s=30, now=1_700_000_200.0)
    assert job is not None and job.attempts == 1
    assert led.reserve(job, started_at=1_700_000_250.0, amount=0.005, pr_cap=1.0)
    assert not led.reserve(job, started_at=1_700_000_250.0, amount=0.001, pr_cap=1.0)  # $0.0042 + $0.005 + $0.001 > $0.01
    led.settle(job, started_at=1_700_000_250.0, reserved=0.005, usage=Usage(100, 10, 0.0001, 1), model="m")
    assert led.finish(job.id, job.attempts, state="done", now=1_700_000_301.0) == []
    assert led.month_spend("repo", "octo/old", "2023-11")[0] == pytest.approx(0.0043)
    assert led.accept(_new("old-d1", repo="octo/old", head="a" * 40), now=1.0).duplicate == "delivery"


def test_ping_raises_when_the_database_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(Exception):
        Ledger(f"sqlite:///{tmp_path / 'missing' / 'ledger.db'}").ping()


def test_accept_dedupes_by_delivery_and_by_head(ledger: Ledger) -> None:
    first = _queued(ledger, "d1")
    assert ledger.accept(_new("d1"), now=101) == AcceptResult(first, "delivery")
    assert ledger.accept(_new("d2"), now=101) == AcceptResult(first, "head")
    assert ledger.accept(_new("d2"), now=102) == AcceptResult(first, "head")  # d2 made no job of its own
    again = _queued(ledger, "d3", rereview=True)
    assert again != first
    assert ledger.accept(_new("d4", rereview=True), now=103) == AcceptResult(again, "head")
    failed = _running(ledger, "d5", head="bbb", pr=2)
    assert ledger.finish(failed.id, failed.attempts, state="failed", detail="all model calls failed", now=104) == []
    retried = ledger.accept(_new("d5", head="bbb", pr=2), now=105)  # a redelivery of a failed job's delivery
    assert retried.duplicate is None and retried.job_id not in (None, failed.id)
    assert ledger.accept(_new("d6", head="bbb", pr=2), now=106) == AcceptResult(retried.job_id, "head")
    job = ledger.job(first)
    assert job is not None and (job.state, job.attempts, job.rereview, job.installation_id) == ("queued", 0, False, 7)
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


def test_leases_are_fenced_by_the_attempt_number(ledger: Ledger) -> None:
    job_id = _queued(ledger, "d1")
    first = ledger.claim(job_id, worker="w1", lease_s=30, now=110)
    assert isinstance(first, Job) and (first.state, first.worker, first.lease_until, first.attempts) == ("running", "w1", 140, 1)
    assert ledger.claim(job_id, worker="w2", lease_s=30, now=120) is None
    assert ledger.renew(job_id, first.attempts, lease_s=30, now=130)  # lease now until 160
    assert ledger.claim(job_id, worker="w2", lease_s=30, now=150) is None
    second = ledger.claim(job_id, worker="w2", lease_s=30, now=161)
    assert second is not None and (second.worker, second.attempts) == ("w2", 2)
    assert not ledger.renew(job_id, first.attempts, lease_s=30, now=162)  # w1 lost it
    assert not ledger.holds(first) and ledger.holds(second)
    assert ledger.finish(job_id, first.attempts, state="done", detail="late", now=163) is None  # refused
    assert ledger.finish(job_id, second.attempts, state="done", detail="posted", now=170) == []
    done = ledger.job(job_id)
    assert done is not None and (done.state, done.detail, done.lease_until) == ("done", "posted", None)
    assert ledger.claim(job_id, worker="w3", lease_s=30, now=500) is None
    assert ledger.claim("missing", worker="w3", lease_s=30, now=500) is None
    with pytest.raises(ValueError):
        ledger.finish(job_id, second.attempts, state="running", now=171)


def test_one_running_job_per_pr_and_the_next_is_handed_on(ledger: Ledger) -> None:
    a = _queued(ledger, "d1", head="h1")
    b = _queued(ledger, "d2", head="h2", now=101)
    other = _queued(ledger, "d3", head="h3", pr=2)
    running = ledger.claim(a, worker="w1", lease_s=30, now=110)
    assert running is not None
    assert ledger.claim(b, worker="w2", lease_s=30, now=111) is None  # the PR is busy
    assert ledger.claim(other, worker="w2", lease_s=30, now=111) is not None  # another PR is not
    assert ledger.finish(a, running.attempts, state="done", now=112) == [b]  # b may run now
    assert ledger.claim(b, worker="w2", lease_s=30, now=113) is not None


def test_a_busy_pr_whose_runner_died_can_be_taken_over(ledger: Ledger) -> None:
    a = _queued(ledger, "d1", head="h1")
    b = _queued(ledger, "d2", head="h2", now=101)
    assert ledger.claim(a, worker="w1", lease_s=10, now=110)
    assert ledger.claim(b, worker="w2", lease_s=10, now=115) is None
    assert ledger.claim(b, worker="w2", lease_s=10, now=121) is not None  # a's lease ran out at 120


def test_the_reaper_touches_each_stale_job_once(ledger: Ledger) -> None:
    dead = _queued(ledger, "d1", now=100, head="h1")
    alive = _queued(ledger, "d2", now=100, head="h2", pr=2)
    stale = _queued(ledger, "d3", now=100, head="h3", pr=3)
    fresh = _queued(ledger, "d4", now=190, head="h4", pr=4)
    finished = _running(ledger, "d5", now=100, head="h5", pr=5)
    assert ledger.claim(dead, worker="w", lease_s=10, now=101)
    assert ledger.claim(alive, worker="w", lease_s=500, now=101)
    ledger.finish(finished.id, finished.attempts, state="done", now=102)
    assert set(ledger.expired(now=200, queued_grace_s=60)) == {dead, stale}
    assert ledger.expired(now=201, queued_grace_s=60) == []  # touched once, not on every pass
    assert fresh not in ledger.expired(now=240, queued_grace_s=60)
    # A grace period later, whatever is still stale is re-enqueued again (in case that enqueue was lost too).
    assert set(ledger.expired(now=261, queued_grace_s=60)) == {dead, stale, fresh}
    assert ledger.job_counts() == {"queued": 2, "running": 2, "done": 1, "dropped": 0, "failed": 0}


def test_supersede_makes_sure_the_current_head_has_a_job(ledger: Ledger) -> None:
    old = _running(ledger, "d1", head="h1")
    newer = ledger.supersede(old, "h2", now=120)
    assert newer is not None and ledger.job(newer).head_sha == "h2"
    assert ledger.supersede(old, "h2", now=121) is None  # a live job for h2 exists: nothing new
    current = _queued(ledger, "d3", head="h3")
    assert ledger.supersede(old, "h3", now=122) is None and ledger.job(current).state == "queued"


def test_cancel_pr_and_installation_drop_only_queued_jobs(ledger: Ledger) -> None:
    a = _queued(ledger, "d1", head="h1")
    b = _queued(ledger, "d2", head="h2")
    running = _queued(ledger, "d3", head="h3", pr=3)
    other_pr = _queued(ledger, "d4", pr=2, installation=8)
    assert ledger.claim(running, worker="w", lease_s=30, now=101)
    assert ledger.cancel_pr("o/r", 1, now=110) == 2
    assert ledger.cancel_pr("o/r", 3, now=110) == 0
    assert [ledger.job(j).state for j in (a, b, running, other_pr)] == ["dropped", "dropped", "running", "queued"]
    assert ledger.cancel_installation(8, now=112) == 1
    assert ledger.job(other_pr).state == "dropped"


def test_budgets_are_configuration_and_unknown_scopes_refused(url: str) -> None:
    with pytest.raises(ValueError):
        Ledger(url, budgets={("org", "o"): 1.0})
    with pytest.raises(ValueError):
        Ledger(url, budgets={("repo", "o/r"): -1.0})
    capped = Ledger(url, budgets={("repo", "o/r"): 2.25})
    capped.migrate()
    assert capped.month_spend("repo", "o/r", MONTH) == (0.0, 2.25)
    job = _running(capped, "d1")
    assert not capped.reserve(job, started_at=IN_MONTH, amount=3.0)
    # Another process started without the cap does not see it, and never writes it for anyone else.
    free = Ledger(url)
    assert free.month_spend("repo", "o/r", MONTH) == (0.0, None)
    assert free.reserve(job, started_at=IN_MONTH, amount=3.0)
    assert capped.month_spend("repo", "o/r", MONTH) == (0.0, 2.25)


def test_reserve_is_all_or_nothing_across_scopes(ledger: Ledger, url: str) -> None:
    job = _running(ledger, "d1")
    assert ledger.reserve(job, started_at=IN_MONTH, amount=0.04)
    assert not ledger.reserve(job, started_at=IN_MONTH, amount=0.02)  # installation 7 is full
    assert _month_row(url, "repo", "o/r", MONTH) == (0, 40_000)  # the repo kept nothing of the failed try
    other = _running(ledger, "d2", installation=9, pr=2)
    assert ledger.reserve(other, started_at=IN_MONTH, amount=0.06)  # no cap on installation 9
    assert not ledger.reserve(other, started_at=IN_MONTH, amount=0.01)  # repo is full
    assert ledger.reserve(job, started_at=IN_FEBRUARY, amount=0.05)  # a new month
    free = _running(ledger, "d3", repo="free/repo", installation=None)
    assert ledger.reserve(free, started_at=IN_MONTH, amount=1000.0)  # no budget at all


def test_settle_books_the_call_and_moves_the_hold_into_spent(ledger: Ledger, url: str) -> None:
    job = _running(ledger, "d1")
    assert ledger.reserve(job, started_at=IN_MONTH, amount=0.05)
    assert ledger.settle(job, started_at=IN_MONTH, reserved=0.05, usage=Usage(1000, 200, 0.03, 1), model="m-1")
    assert ledger.month_spend("repo", "o/r", MONTH) == (0.03, 0.10)
    assert ledger.month_spend("installation", "7", MONTH) == (0.03, 0.05)
    assert _month_row(url, "repo", "o/r", MONTH) == (30_000, 0)
    (call,) = ledger.calls(repo="o/r")
    assert (call.job_id, call.attempt, call.model, call.cost_usd, call.review_id) == (job.id, 1, "m-1", 0.03, None)
    assert ledger.pr_totals("o/r", 1) == (1000, 200, 0.03)
    ledger.settle(job, started_at=IN_MONTH, reserved=0.0, usage=None, model="m-1")  # a failed call: nothing booked
    assert len(ledger.calls()) == 1


def test_a_call_across_midnight_at_month_end_counts_in_the_month_it_started_both_in_budget_and_call_list(
        ledger: Ledger, url: str) -> None:
    from bot.review.ports import Call
    from bot.server.worker import LedgerBudget

    job = _running(ledger, "d1")
    times = iter([_utc(2025, 1, 31, 23, 59, 50), _utc(2025, 2, 1, 0, 0, 5)])  # the call starts, then returns
    gate = LedgerBudget(ledger, job, threading.Event(), lambda: next(times))
    asked = Call(reserved=0.05, model="m", budget_usd=1.0)
    assert gate.reserve(asked)
    assert _month_row(url, "repo", "o/r", "2025-01") == (0, 50_000)
    gate.settle(Call(0.05, "m", 1.0, usage=Usage(1000, 200, 0.03, 1)))
    assert ledger.month_spend("repo", "o/r", "2025-01") == (0.03, 0.10)
    assert ledger.month_spend("repo", "o/r", "2025-02")[0] == 0.0
    assert _month_row(url, "repo", "o/r", "2025-01") == (30_000, 0)  # the hold went back where it was taken
    assert [c.cost_usd for c in ledger.calls(month="2025-01")] == [0.03] and ledger.calls(month="2025-02") == []


def test_per_pr_cap_holds_under_concurrent_reservations(ledger: Ledger) -> None:
    job = _running(ledger, "d1", repo="big/repo", installation=None)
    barrier, granted = threading.Barrier(8), []

    def batch() -> None:
        barrier.wait()
        for _ in range(5):
            if ledger.reserve(job, started_at=IN_MONTH, amount=0.001, pr_cap=0.003):
                granted.append(1)
                ledger.settle(job, started_at=IN_MONTH, reserved=0.001, usage=Usage(10, 10, 0.0008, 1), model="m")

    threads = [threading.Thread(target=batch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.pr_totals("big/repo", 1)[2] <= 0.003
    assert len(granted) == 3  # $0.0008 each, held at $0.001: the fourth would go over


def test_a_lost_attempts_call_is_booked_but_its_hold_stays_released(ledger: Ledger, url: str) -> None:
    first = _running(ledger, "d1", now=100)
    assert ledger.reserve(first, started_at=IN_MONTH, amount=0.04, pr_cap=1.0)
    second = ledger.claim(first.id, worker="w2", lease_s=30, now=200)  # first's lease ran out: its hold comes back
    assert second is not None and _month_row(url, "repo", "o/r", MONTH) == (0, 0)
    assert not ledger.reserve(first, started_at=IN_MONTH, amount=0.01)  # the old attempt may not reserve
    assert not ledger.settle(first, started_at=IN_MONTH, reserved=0.04, usage=Usage(1, 1, 0.02, 1), model="m")
    assert _month_row(url, "repo", "o/r", MONTH) == (20_000, 0)  # booked (it was paid), nothing released twice
    assert ledger.pr_totals("o/r", 1)[2] == 0.02
    assert ledger.reserve(second, started_at=IN_MONTH, amount=0.03)
    ledger.finish(second.id, second.attempts, state="failed", detail="boom", now=202)  # holds go back on failure too
    assert _month_row(url, "repo", "o/r", MONTH) == (20_000, 0)


def _warm() -> None:
    """Pool initializer: importing this module is all the warming a child needs."""


def _reserve_in_a_process(url: str, job: Job, barrier: Any) -> int | str:
    """Child process: reserve $0.01 ATTEMPTS times for its own job, settling every other success; return successes."""
    try:
        led = Ledger(url, budgets={("repo", "o/r"): LIMIT})
        barrier.wait(timeout=60)
        ok = 0
        for i in range(ATTEMPTS):
            if led.reserve(job, started_at=IN_MONTH, amount=STEP):
                ok += 1
                if i % 2:
                    led.settle(job, started_at=IN_MONTH, reserved=STEP, usage=Usage(1, 1, STEP, 1), model="m")
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


def test_concurrent_processes_never_overspend(url: str, processes: tuple[Any, Any]) -> None:
    pool, barrier = processes
    ledger = Ledger(url, budgets={("repo", "o/r"): LIMIT})
    ledger.migrate()
    jobs = [_running(ledger, f"p{i}", pr=i, installation=None) for i in range(WORKERS)]
    outcomes = pool.starmap(_reserve_in_a_process, [(url, job, barrier) for job in jobs], chunksize=1)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    granted = sum(outcomes) * round(STEP * 1_000_000)
    assert granted <= round(LIMIT * 1_000_000)
    assert sum(outcomes) == round(LIMIT / STEP)  # more was asked than fits, so the cap is met exactly
    spent, reserved = _month_row(url, "repo", "o/r", MONTH)
    assert spent + reserved == granted and spent > 0


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def _review(pr: int, finished: float, cost: float, **kw: Any) -> ReviewRow:
    return ReviewRow("o/r", pr, f"https://github.com/o/r/pull/{pr}", "abc", 42, 1000, 200, cost, False,
                     finished - 30, finished, "posted", **kw)


def test_reviews_are_recorded_filtered_and_linked_to_their_calls(ledger: Ledger) -> None:
    job = _running(ledger, "d1")
    ledger.settle(job, started_at=IN_MONTH, reserved=0.0, usage=Usage(1000, 200, 0.001234, 1), model="small")
    jan = _review(1, _utc(2025, 1, 31, 23, 59, 59), 0.001234, job_id=job.id, installation_id=7, model="small")
    feb = _review(1, _utc(2025, 2, 1), 0.002)
    other = _review(2, _utc(2025, 1, 15), 0.5)
    for row in (feb, jan, other):
        ledger.record_review(row)
    assert ledger.reviews(repo="o/r", pr_number=1) == [jan, feb]
    assert ledger.reviews(month="2025-01") == [other, jan]
    assert ledger.reviews(month="2025-02") == [feb]
    assert ledger.reviews(repo="x/y") == []
    (call,) = ledger.calls()
    assert call.review_id is not None  # the January review (its job's) claimed the call
    assert ledger.pr_totals("o/r", 1) == (1000, 200, 0.001234)  # totals are the paid calls
    assert ledger.pr_totals("o/r", 99) == (0, 0, 0.0)


def test_operator_budgets_come_from_a_toml_file_or_the_environment(tmp_path: Path) -> None:
    from bot.core.errors import UsageError
    from bot.server.settings import ServerSettings

    config = tmp_path / "server.toml"
    config.write_text('[budgets]\npr_cap_usd = 0.25\nmonthly = { "repo:o/r" = 10, "installation:7" = 50 }\n')
    from_file = ServerSettings.from_env({"MISTRAL_REVIEW_CONFIG": str(config)})
    assert from_file.pr_budget_cap_usd == 0.25
    assert from_file.monthly_budgets == (("repo", "o/r", 10.0), ("installation", "7", 50.0))
    config.write_text("[budgets]\n")  # caps removed from the file: none left
    assert ServerSettings.from_env({"MISTRAL_REVIEW_CONFIG": str(config)}).monthly_budgets == ()
    with pytest.raises(UsageError, match="keep one"):
        ServerSettings.from_env({"MISTRAL_REVIEW_CONFIG": str(config), "MISTRAL_REVIEW_MONTHLY_BUDGETS": "repo:o/r=1"})
    config.write_text("[budgets\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        ServerSettings.from_env({"MISTRAL_REVIEW_CONFIG": str(config)})
    assert ServerSettings.from_env({"MISTRAL_REVIEW_MONTHLY_BUDGETS": "repo:o/r=3"}).monthly_budgets == (("repo", "o/r", 3.0),)
