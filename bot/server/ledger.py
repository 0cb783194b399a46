"""The webhook server's durable record: deliveries, jobs, budgets and reviews, in SQLite or PostgreSQL.

The only module that imports SQLAlchemy (Core, no ORM). Times are epoch seconds passed in by the caller;
months are "YYYY-MM" strings (UTC) computed by the caller. Money is stored as integer micro-dollars.
"""

from __future__ import annotations

import fcntl
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    case,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from bot.server.records import AcceptResult, Job, NewJob, ReviewRow

MICROS = 1_000_000
STATES = ("queued", "running", "done", "dropped", "failed")
FINAL_STATES = frozenset({"done", "dropped", "failed"})
LIVE_STATES = ("queued", "running", "done")
SCOPES = frozenset({"repo", "installation"})
MIGRATION_LOCK = 0x6D72_6C67  # pg_advisory_xact_lock key shared by every migrating process
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _define_v1(md: MetaData) -> None:
    """Add the tables as migration 1 made them to `md`. Frozen: later changes go in new migrations."""
    Table("deliveries", md, Column("delivery_id", Text, primary_key=True), Column("event", Text, nullable=False),
          Column("received_at", Float, nullable=False))
    jobs = Table(
        "jobs", md,
        Column("id", Text, primary_key=True), Column("delivery_id", Text, nullable=False),
        Column("event", Text, nullable=False), Column("repo", Text, nullable=False),
        Column("pr_number", Integer, nullable=False), Column("head_sha", Text, nullable=False),
        Column("installation_id", BigInteger), Column("forced", Boolean, nullable=False),
        Column("state", Text, nullable=False), Column("attempts", Integer, nullable=False),
        Column("worker", Text), Column("lease_until", Float), Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False), Column("detail", Text, nullable=False),
    )
    Index("ix_jobs_repo_pr", jobs.c.repo, jobs.c.pr_number)
    Index("ix_jobs_state", jobs.c.state)
    live = jobs.c.state.in_(LIVE_STATES)  # at most one live job per head and flag, even under races
    Index("ux_jobs_live_head", jobs.c.repo, jobs.c.pr_number, jobs.c.head_sha, jobs.c.forced, unique=True,
          sqlite_where=live, postgresql_where=live)
    Table("budgets", md, Column("scope", Text, primary_key=True), Column("key", Text, primary_key=True),
          Column("limit_micros", BigInteger, nullable=False))
    Table("budget_months", md, Column("scope", Text, primary_key=True), Column("key", Text, primary_key=True),
          Column("month", Text, primary_key=True), Column("spent_micros", BigInteger, nullable=False),
          Column("reserved_micros", BigInteger, nullable=False))
    reviews = Table(
        "reviews", md,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("job_id", Text), Column("installation_id", BigInteger), Column("repo", Text, nullable=False),
        Column("pr_number", Integer, nullable=False), Column("pr_url", Text, nullable=False),
        Column("head_sha", Text, nullable=False), Column("changed_lines", Integer, nullable=False),
        Column("prompt_tokens", BigInteger, nullable=False), Column("completion_tokens", BigInteger, nullable=False),
        Column("cost_micros", BigInteger, nullable=False), Column("estimated", Boolean, nullable=False),
        Column("started_at", Float, nullable=False), Column("finished_at", Float, nullable=False),
        Column("outcome", Text, nullable=False),
    )
    Index("ix_reviews_repo_pr", reviews.c.repo, reviews.c.pr_number)
    Index("ix_reviews_finished_at", reviews.c.finished_at)


def _migration_1(conn: Connection) -> None:
    """Create deliveries, jobs, budgets, budget_months and reviews."""
    md = MetaData()
    _define_v1(md)
    md.create_all(conn, checkfirst=False)


def _migration_2(conn: Connection) -> None:
    """Record the model each review used."""
    conn.execute(text("ALTER TABLE reviews ADD COLUMN model TEXT"))


def _migration_3(conn: Connection) -> None:
    """Record who asked for a /review and on which comment (the worker checks and answers it)."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN commenter TEXT"))
    conn.execute(text("ALTER TABLE jobs ADD COLUMN comment_id BIGINT"))


def _migration_4(conn: Connection) -> None:
    """Remember what each job holds in the monthly budgets, so a crashed worker's hold can be released."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN held_micros BIGINT NOT NULL DEFAULT 0"))
    conn.execute(text("ALTER TABLE jobs ADD COLUMN held_month TEXT"))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2, _migration_3, _migration_4)


def _head_schema() -> MetaData:
    """Return the tables as the last migration leaves them, for building queries."""
    md = MetaData()
    _define_v1(md)
    md.tables["reviews"].append_column(Column("model", Text))
    md.tables["jobs"].append_column(Column("commenter", Text))
    md.tables["jobs"].append_column(Column("comment_id", BigInteger))
    md.tables["jobs"].append_column(Column("held_micros", BigInteger, nullable=False, server_default="0"))
    md.tables["jobs"].append_column(Column("held_month", Text))
    Table("schema_version", md, Column("version", Integer, primary_key=True, autoincrement=False))
    return md


def _micros(usd: float) -> int:
    return round(usd * MICROS)


def _usd(micros: int | None) -> float:
    return (micros or 0) / MICROS


def _check_month(month: str) -> None:
    if not _MONTH.fullmatch(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")


def _month_range(month: str) -> tuple[float, float]:
    """Return the [start, end) epoch seconds of a UTC month."""
    _check_month(month)
    year, mon = int(month[:4]), int(month[5:])
    start = datetime(year, mon, 1, tzinfo=timezone.utc)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=timezone.utc)
    return start.timestamp(), end.timestamp()


def _scopes(repo: str, installation_id: int | None) -> list[tuple[str, str]]:
    """Return the budget scopes a review in `repo` draws on, repo first (a fixed order avoids deadlocks)."""
    scopes = [("repo", repo)]
    if installation_id is not None:
        scopes.append(("installation", str(installation_id)))
    return scopes


_LIVE = ", ".join(f"'{state}'" for state in LIVE_STATES)  # literals, so SQLite can use ux_jobs_live_head
_SEEN = text("INSERT INTO deliveries (delivery_id, event, received_at) VALUES (:delivery, :event, :now) "
             "ON CONFLICT DO NOTHING")
_SAME_HEAD = text(f"SELECT id FROM jobs WHERE repo = :repo AND pr_number = :pr AND head_sha = :head "
                  f"AND forced = :forced AND state IN ({_LIVE}) LIMIT 1")
_NEW_JOB = text("INSERT INTO jobs (id, delivery_id, event, repo, pr_number, head_sha, installation_id, forced, state, "
                "attempts, worker, lease_until, created_at, updated_at, detail, commenter, comment_id, held_micros) "
                "VALUES (:id, :delivery, :event, :repo, :pr, :head, :iid, :forced, 'queued', 0, NULL, NULL, :now, "
                ":now, '', :commenter, :comment_id, 0)")


def _lock_file(url: str) -> Path | None:
    path = url.split(":///", 1)[-1]
    return None if path in ("", ":memory:") else Path(path + ".lock")


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on a file beside the SQLite database while writing.

    SQLite's own busy handler sleeps in growing steps and lets newcomers jump the queue;
    a waiter on flock wakes the moment the lock is free, which keeps the tail latency low.
    """
    if path is None:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Ledger:
    """Jobs, deliveries, budgets and reviews in one SQL database."""

    def __init__(self, url: str) -> None:
        """Open (lazily) the database at a SQLAlchemy URL; call `migrate` before use."""
        is_sqlite = url.startswith("sqlite")
        # A pre-ping is a wasted SELECT 1 per request on a local SQLite file; it saves dropped PostgreSQL links.
        self._engine = create_engine(url, pool_pre_ping=not is_sqlite)
        self._dialect = self._engine.dialect.name
        self._lock_path = _lock_file(url) if is_sqlite else None
        if self._dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self._dialect!r}: use sqlite or postgresql")
        if self._dialect == "sqlite":
            event.listen(self._engine, "connect", _sqlite_connect)
            event.listen(self._engine, "begin", _sqlite_begin)
        md = _head_schema()
        self._jobs = md.tables["jobs"]
        self._budgets, self._months = md.tables["budgets"], md.tables["budget_months"]
        self._reviews, self._versions = md.tables["reviews"], md.tables["schema_version"]

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Ledger:
        """Open the SQLite ledger file in `data_dir`, creating the directory."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{(data_dir / 'ledger.db').resolve()}")

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """Yield a connection in a write transaction (SQLite: BEGIN IMMEDIATE), committed on success."""
        with _file_lock(self._lock_path), self._engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    def _insert(self, table: Table) -> Any:
        """Return the dialect's INSERT, which knows ON CONFLICT."""
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def migrate(self) -> int:
        """Apply pending migrations, each in its own locked transaction; return the schema version."""
        while True:
            with self._write() as conn:
                if self._dialect == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                self._versions.create(conn, checkfirst=True)
                version = conn.execute(select(func.coalesce(func.max(self._versions.c.version), 0))).scalar_one()
                if version > len(MIGRATIONS):
                    raise RuntimeError(f"database schema {version} is newer than this code ({len(MIGRATIONS)})")
                if version == len(MIGRATIONS):
                    return version
                MIGRATIONS[version](conn)
                conn.execute(self._versions.insert().values(version=version + 1))

    def ping(self) -> None:
        """Run SELECT 1; raise when the database cannot answer."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()

    def accept(self, job: NewJob, *, now: float) -> AcceptResult:
        """Record a delivery and queue its job unless the delivery or the same head was seen before.

        This is the webhook's acknowledgement path: one short transaction of plain SQL
        (statement building in Python would hold the write lock for most of its time).
        """
        job_id = uuid.uuid4().hex
        values: dict[str, Any] = {"delivery": job.delivery_id, "event": job.event, "now": now, "repo": job.repo,
                  "pr": job.pr_number, "head": job.head_sha, "forced": job.forced, "iid": job.installation_id,
                  "commenter": job.commenter, "comment_id": job.comment_id, "id": job_id}
        with self._write() as conn:
            if conn.execute(_SEEN, values).rowcount == 0:
                return AcceptResult(None, "delivery")
            existing = conn.execute(_SAME_HEAD, values).scalar()
            if existing is not None:
                return AcceptResult(existing, "head")
            if self._dialect == "sqlite":  # BEGIN IMMEDIATE already serialises writers: no race to lose
                conn.execute(_NEW_JOB, values)
                return AcceptResult(job_id, None)
            try:
                with conn.begin_nested():
                    conn.execute(_NEW_JOB, values)
            except IntegrityError:  # a concurrent delivery queued the same head first (PostgreSQL)
                return AcceptResult(conn.execute(_SAME_HEAD, values).scalar_one(), "head")
            return AcceptResult(job_id, None)

    def claim(self, job_id: str, *, worker: str, lease_s: float, now: float) -> Job | None:
        """Take a queued job, or a running one whose lease ran out, for `worker`; None when it can't."""
        jobs = self._jobs
        claimable = (jobs.c.state == "queued") | ((jobs.c.state == "running") & (jobs.c.lease_until < now))
        with self._write() as conn:
            taken = conn.execute(update(jobs).where(jobs.c.id == job_id, claimable).values(
                state="running", worker=worker, lease_until=now + lease_s, attempts=jobs.c.attempts + 1,
                updated_at=now)).rowcount
            if taken != 1:
                return None
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
            if row.held_micros and row.held_month:  # a worker died holding budget: give it back
                self._release(conn, _scopes(row.repo, row.installation_id), row.held_month, row.held_micros, 0)
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(held_micros=0))
            return _job(row)

    def renew(self, job_id: str, *, worker: str, lease_s: float, now: float) -> bool:
        """Extend the lease while `worker` still holds the running job; False when it lost it."""
        jobs = self._jobs
        with self._write() as conn:
            return conn.execute(update(jobs).where(
                jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.state == "running",
            ).values(lease_until=now + lease_s, updated_at=now)).rowcount == 1

    def finish(self, job_id: str, *, state: str, detail: str = "", now: float) -> None:
        """Mark a job done, dropped or failed and release its lease."""
        if state not in FINAL_STATES:
            raise ValueError(f"final state must be one of {sorted(FINAL_STATES)}, got {state!r}")
        with self._write() as conn:
            conn.execute(update(self._jobs).where(self._jobs.c.id == job_id).values(
                state=state, detail=detail, lease_until=None, updated_at=now))

    def expired(self, *, now: float, queued_grace_s: float) -> list[str]:
        """Return ids of running jobs whose lease ran out and queued jobs older than the grace period."""
        jobs = self._jobs
        with self._engine.begin() as conn:
            return list(conn.execute(select(jobs.c.id).where(
                ((jobs.c.state == "running") & (jobs.c.lease_until < now))
                | ((jobs.c.state == "queued") & (jobs.c.created_at < now - queued_grace_s)),
            ).order_by(jobs.c.created_at)).scalars())

    def newer_job_exists(self, job: Job) -> bool:
        """Tell whether a later job (not dropped) for the same PR supersedes this one."""
        jobs = self._jobs
        with self._engine.begin() as conn:
            return conn.execute(select(jobs.c.id).where(
                jobs.c.repo == job.repo, jobs.c.pr_number == job.pr_number, jobs.c.id != job.id,
                jobs.c.created_at > job.created_at, jobs.c.state != "dropped").limit(1)).first() is not None

    def cancel_pr(self, repo: str, pr_number: int, *, now: float) -> int:
        """Drop the queued jobs of a closed PR; return how many."""
        jobs = self._jobs
        return self._drop_queued((jobs.c.repo == repo) & (jobs.c.pr_number == pr_number), "pr closed", now)

    def cancel_installation(self, installation_id: int, *, now: float) -> int:
        """Drop the queued jobs of an uninstalled installation; return how many."""
        return self._drop_queued(self._jobs.c.installation_id == installation_id, "installation removed", now)

    def _drop_queued(self, where: Any, detail: str, now: float) -> int:
        jobs = self._jobs
        with self._write() as conn:
            return conn.execute(update(jobs).where(where, jobs.c.state == "queued").values(
                state="dropped", detail=detail, updated_at=now)).rowcount

    def job(self, job_id: str) -> Job | None:
        """Return a job by id, or None."""
        with self._engine.begin() as conn:
            row = conn.execute(select(self._jobs).where(self._jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def jobs_for(self, repo: str, pr_number: int) -> list[Job]:
        """Return every job of one pull request, oldest first."""
        jobs = self._jobs
        with self._engine.begin() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.repo == repo, jobs.c.pr_number == pr_number)
                                .order_by(jobs.c.created_at)).all()
        return [_job(row) for row in rows]

    def job_counts(self) -> dict[str, int]:
        """Return how many jobs are in each state (every state listed, zeros included)."""
        jobs = self._jobs
        with self._engine.begin() as conn:
            rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {state: 0 for state in STATES} | {state: count for state, count in rows}

    def set_budget(self, scope: str, key: str, limit_usd: float) -> None:
        """Set the monthly cap of a repo ("owner/name") or an installation (its id as text)."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {sorted(SCOPES)}, got {scope!r}")
        if limit_usd < 0:
            raise ValueError("a budget cannot be negative")
        stmt = self._insert(self._budgets).values(scope=scope, key=key, limit_micros=_micros(limit_usd))
        with self._write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["scope", "key"],
                                                    set_={"limit_micros": stmt.excluded.limit_micros}))

    def _ensure_months(self, conn: Connection, scopes: list[tuple[str, str]], month: str) -> None:
        for scope, key in scopes:
            conn.execute(self._insert(self._months).values(
                scope=scope, key=key, month=month, spent_micros=0, reserved_micros=0).on_conflict_do_nothing())

    def reserve(self, *, repo: str, installation_id: int | None, month: str, amount: float,
                job_id: str | None = None) -> bool:
        """Reserve `amount` against the repo's and installation's caps, all or nothing; False if it won't fit.

        With a job id, the job remembers its hold, so that a crashed worker's hold is released
        when the job is claimed again.
        """
        _check_month(month)
        if amount < 0:
            raise ValueError("cannot reserve a negative amount")
        micros, scopes, months, budgets = _micros(amount), _scopes(repo, installation_id), self._months, self._budgets
        with self._write() as conn:
            self._ensure_months(conn, scopes, month)
            for scope, key in scopes:
                limit = conn.execute(select(budgets.c.limit_micros).where(
                    budgets.c.scope == scope, budgets.c.key == key)).scalar()
                stmt = update(months).where(months.c.scope == scope, months.c.key == key, months.c.month == month)
                if limit is not None:  # the check and the add are one statement: a row lock makes it atomic
                    stmt = stmt.where(months.c.spent_micros + months.c.reserved_micros + micros <= limit)
                if conn.execute(stmt.values(reserved_micros=months.c.reserved_micros + micros)).rowcount != 1:
                    conn.rollback()  # undo the scopes already reserved
                    return False
            if job_id is not None:
                jobs = self._jobs
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(
                    held_micros=jobs.c.held_micros + micros, held_month=month))
        return True

    def settle(self, *, repo: str, installation_id: int | None, month: str, reserved: float, spent: float,
               job_id: str | None = None) -> None:
        """Release a reservation and book what was really spent, for the repo and the installation."""
        _check_month(month)
        held, used = _micros(reserved), _micros(spent)
        with self._write() as conn:
            self._release(conn, _scopes(repo, installation_id), month, held, used)
            if job_id is not None:
                jobs = self._jobs
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(
                    held_micros=case((jobs.c.held_micros > held, jobs.c.held_micros - held), else_=0)))

    def _release(self, conn: Connection, scopes: list[tuple[str, str]], month: str, held: int, used: int) -> None:
        months = self._months
        self._ensure_months(conn, scopes, month)
        for scope, key in scopes:
            conn.execute(update(months).where(
                months.c.scope == scope, months.c.key == key, months.c.month == month,
            ).values(
                reserved_micros=case((months.c.reserved_micros > held, months.c.reserved_micros - held), else_=0),
                spent_micros=months.c.spent_micros + used,
            ))

    def month_spend(self, scope: str, key: str, month: str) -> tuple[float, float | None]:
        """Return (dollars spent in the month, monthly cap or None) for a scope."""
        _check_month(month)
        months, budgets = self._months, self._budgets
        with self._engine.begin() as conn:
            spent = conn.execute(select(months.c.spent_micros).where(
                months.c.scope == scope, months.c.key == key, months.c.month == month)).scalar()
            limit = conn.execute(select(budgets.c.limit_micros).where(
                budgets.c.scope == scope, budgets.c.key == key)).scalar()
        return _usd(spent), None if limit is None else _usd(limit)

    def record_review(self, row: ReviewRow) -> None:
        """Store one finished review."""
        with self._write() as conn:
            values = {f.name: getattr(row, f.name) for f in fields(ReviewRow) if f.name != "cost_usd"}
            conn.execute(self._reviews.insert().values(**values, cost_micros=_micros(row.cost_usd)))

    def reviews(self, *, repo: str | None = None, pr_number: int | None = None,
                month: str | None = None) -> list[ReviewRow]:
        """Return reviews, oldest first, filtered by repo, PR and the UTC month they finished in."""
        reviews = self._reviews
        stmt = select(reviews).order_by(reviews.c.finished_at, reviews.c.id)
        if repo is not None:
            stmt = stmt.where(reviews.c.repo == repo)
        if pr_number is not None:
            stmt = stmt.where(reviews.c.pr_number == pr_number)
        if month is not None:
            start, end = _month_range(month)
            stmt = stmt.where(reviews.c.finished_at >= start, reviews.c.finished_at < end)
        with self._engine.begin() as conn:
            return [_review(r) for r in conn.execute(stmt)]

    def pr_totals(self, repo: str, pr_number: int) -> tuple[int, int, float]:
        """Return (prompt tokens, completion tokens, dollars) summed over a PR's reviews."""
        r = self._reviews
        with self._engine.begin() as conn:
            prompt, completion, cost = conn.execute(select(
                func.coalesce(func.sum(r.c.prompt_tokens), 0), func.coalesce(func.sum(r.c.completion_tokens), 0),
                func.coalesce(func.sum(r.c.cost_micros), 0),
            ).where(r.c.repo == repo, r.c.pr_number == pr_number)).one()
        return int(prompt), int(completion), _usd(int(cost))


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """Let SQLAlchemy's begin event issue BEGIN itself; wait on locks; WAL; enforce foreign keys."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Take SQLite's write lock up front for writes, so no transaction fails upgrading from read to write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "BEGIN")


def _job(row: Any) -> Job:
    values = {f.name: getattr(row, f.name) for f in fields(Job)}
    return Job(**{**values, "commenter": values["commenter"] or ""})


def _review(row: Any) -> ReviewRow:
    values = {f.name: getattr(row, f.name) for f in fields(ReviewRow) if f.name not in ("cost_usd", "model")}
    return ReviewRow(**values, cost_usd=_usd(row.cost_micros), model=row.model or "")
