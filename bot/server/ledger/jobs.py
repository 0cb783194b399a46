"""Jobs: accept a delivery, claim with a fenced lease, finish, supersede, reap."""

from __future__ import annotations

import uuid
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.exc import IntegrityError

from bot.server.ledger.budgets import BudgetsMixin
from bot.server.ledger.schema import COVERING_STATES, FINAL_STATES, STATES, jobs, scopes
from bot.server.records import AcceptResult, Job, NewJob

_COVERING = ", ".join(f"'{state}'" for state in COVERING_STATES)  # literals, so SQLite can use ux_jobs_live_head
_SEEN = text("INSERT INTO deliveries (delivery_id, event, received_at) VALUES (:delivery, :event, :now) "
             "ON CONFLICT DO NOTHING")
_DELIVERY_COVERED = text(f"SELECT id FROM jobs WHERE delivery_id = :delivery AND state IN ({_COVERING}) LIMIT 1")
_SAME_HEAD = text(f"SELECT id FROM jobs WHERE host = :host AND repo = :repo AND pr_number = :pr AND head_sha = :head "
                  f"AND forced = :forced AND state IN ({_COVERING}) LIMIT 1")
_NEW_JOB = text("INSERT INTO jobs (id, delivery_id, event, repo, pr_number, head_sha, installation_id, forced, state, "
                "attempts, worker, lease_until, created_at, updated_at, detail, commenter, comment_id, held_micros, "
                "pr_held_micros, enqueued_at, host, project_id) VALUES (:id, :delivery, :event, :repo, :pr, :head, :iid, "
                ":forced, 'queued', 0, NULL, NULL, :now, :now, '', :commenter, :comment_id, 0, 0, :now, :host, :project)")


def _values(job: NewJob, now: float) -> dict[str, Any]:
    return {"delivery": job.delivery_id, "event": job.event, "now": now, "repo": job.repo, "pr": job.pr_number,
            "head": job.head_sha, "forced": job.rereview, "iid": job.installation_id, "commenter": job.commenter,
            "comment_id": job.comment_id, "id": uuid.uuid4().hex, "host": job.host, "project": job.project_id}


_COLUMNS = {"rereview": "forced"}  # Job fields whose column kept its first name (renaming it would need a migration)


def as_job(row: Any) -> Job:
    """Return a jobs row as a Job."""
    values = {f.name: getattr(row, _COLUMNS.get(f.name, f.name)) for f in fields(Job)}
    return Job(**{**values, "commenter": values["commenter"] or ""})


def same_pull(host: str, repo: str, pr_number: int) -> Any:
    """Return the WHERE clause for the jobs of one pull or merge request."""
    return (jobs.c.host == host) & (jobs.c.repo == repo) & (jobs.c.pr_number == pr_number)


def holder(job_id: str, attempt: int) -> Any:
    """Return the WHERE clause that matches a job only while this attempt holds it (the fence)."""
    return (jobs.c.id == job_id) & (jobs.c.attempts == attempt) & (jobs.c.state == "running")


class JobsMixin(BudgetsMixin):
    """The jobs table."""

    def accept(self, job: NewJob, *, now: float) -> AcceptResult:
        """Record a delivery and queue its job unless the delivery or the same head is already live.

        A redelivery whose earlier job failed or was dropped queues a new job. This is the webhook's
        acknowledgement path: one short transaction of plain SQL.
        """
        values = _values(job, now)
        with self._write() as conn:
            if conn.execute(_SEEN, values).rowcount == 0:
                earlier = conn.execute(_DELIVERY_COVERED, values).scalar()
                if earlier is not None:
                    return AcceptResult(earlier, "delivery")
            return self._queue(conn, values)

    def _queue(self, conn: Connection, values: dict[str, Any]) -> AcceptResult:
        existing = conn.execute(_SAME_HEAD, values).scalar()
        if existing is not None:
            return AcceptResult(existing, "head")
        if self._dialect == "sqlite":  # BEGIN IMMEDIATE already serialises writers: no race to lose
            conn.execute(_NEW_JOB, values)
            return AcceptResult(values["id"], None)
        try:
            with conn.begin_nested():
                conn.execute(_NEW_JOB, values)
        except IntegrityError:  # a concurrent delivery queued the same head first (PostgreSQL)
            return AcceptResult(conn.execute(_SAME_HEAD, values).scalar_one(), "head")
        return AcceptResult(values["id"], None)

    def supersede(self, job: Job, head_sha: str, *, now: float) -> str | None:
        """Make sure a job reviews the PR's current head; return the new job's id, or None if one exists."""
        new = NewJob(f"supersede-{job.id}-{head_sha[:12]}", job.event, job.repo, job.pr_number, head_sha,
                     job.installation_id, host=job.host, project_id=job.project_id)
        with self._write() as conn:
            result = self._queue(conn, _values(new, now))
        return None if result.duplicate else result.job_id

    def claim(self, job_id: str, *, worker: str, lease_s: float, now: float) -> Job | None:
        """Take a queued job, or a running one whose lease ran out, with a new attempt number.

        None when it can't: someone holds it, it ended, or another job of its PR is running
        (at most one running job per PR; it is queued again when that one ends).
        """
        with self._write() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                return None
            self._lock_pr(conn, row.host, row.repo, row.pr_number)
            claimable = (jobs.c.state == "queued") | ((jobs.c.state == "running") & (jobs.c.lease_until < now))
            busy = conn.execute(select(jobs.c.id).where(
                same_pull(row.host, row.repo, row.pr_number), jobs.c.id != job_id,
                jobs.c.state == "running", jobs.c.lease_until >= now).limit(1)).first()
            if busy is not None:
                return None
            taken = conn.execute(update(jobs).where(jobs.c.id == job_id, claimable).values(
                state="running", worker=worker, lease_until=now + lease_s, attempts=jobs.c.attempts + 1,
                updated_at=now)).rowcount
            if taken != 1:
                return None
            self._release_holds(conn, row)  # the previous attempt's holds: its worker's lease ran out
            return as_job(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())

    def renew(self, job_id: str, attempt: int, *, lease_s: float, now: float) -> bool:
        """Extend the lease while this attempt still holds the running job; False when it lost it."""
        with self._write() as conn:
            return conn.execute(update(jobs).where(holder(job_id, attempt)).values(
                lease_until=now + lease_s, updated_at=now)).rowcount == 1

    def holds(self, job: Job) -> bool:
        """Tell whether this attempt of `job` still holds it."""
        with self._read() as conn:
            return conn.execute(select(jobs.c.id).where(holder(job.id, job.attempts))).first() is not None

    def finish(self, job_id: str, attempt: int, *, state: str, detail: str = "", now: float) -> list[str] | None:
        """End this attempt's job as done, dropped or failed and release its holds.

        Return the queued jobs of the same PR (now free to run), or None when this attempt no longer holds the job.
        """
        if state not in FINAL_STATES:
            raise ValueError(f"final state must be one of {sorted(FINAL_STATES)}, got {state!r}")
        with self._write() as conn:
            row = conn.execute(select(jobs).where(holder(job_id, attempt))).first()
            if row is None:
                return None
            self._lock_pr(conn, row.host, row.repo, row.pr_number)
            self._release_holds(conn, row)
            conn.execute(update(jobs).where(holder(job_id, attempt)).values(
                state=state, detail=detail, lease_until=None, updated_at=now))
            return list(conn.execute(select(jobs.c.id).where(
                same_pull(row.host, row.repo, row.pr_number), jobs.c.state == "queued",
            ).order_by(jobs.c.created_at)).scalars())

    def _release_holds(self, conn: Connection, row: Any) -> None:
        """Give back what a job holds in the monthly and PR budgets (caller holds the write lock)."""
        if row.held_micros and row.held_month:
            self._release(conn, scopes(row.host, row.repo, row.installation_id), row.held_month, row.held_micros, 0)
        if row.pr_held_micros:
            self._release_pr(conn, row.host, row.repo, row.pr_number, row.pr_held_micros, 0)
        conn.execute(update(jobs).where(jobs.c.id == row.id).values(held_micros=0, pr_held_micros=0))

    def expired(self, *, now: float, queued_grace_s: float) -> list[str]:
        """Return, once each, running jobs whose lease ran out and queued jobs not queued for the grace period.

        Each job returned is marked as queued now, so the next pass leaves it alone until it is stale again.
        """
        stale = jobs.c.enqueued_at < now - queued_grace_s  # queued long ago, and that enqueue may be lost too
        dead = (jobs.c.state == "running") & (jobs.c.lease_until < now) & ((jobs.c.enqueued_at < jobs.c.lease_until) | stale)
        waiting = (jobs.c.state == "queued") & stale
        with self._write() as conn:
            ids = list(conn.execute(select(jobs.c.id).where(dead | waiting).order_by(jobs.c.created_at)).scalars())
            if ids:
                conn.execute(update(jobs).where(jobs.c.id.in_(ids)).values(enqueued_at=now))
        return ids

    def cancel_pr(self, repo: str, pr_number: int, *, now: float, host: str = "github") -> int:
        """Drop the queued jobs of a closed (or merged) pull or merge request; return how many."""
        return self._drop_queued(same_pull(host, repo, pr_number), "pr closed", now)

    def cancel_installation(self, installation_id: int, *, now: float) -> int:
        """Drop the queued jobs of an uninstalled installation; return how many."""
        return self._drop_queued(jobs.c.installation_id == installation_id, "installation removed", now)

    def _drop_queued(self, where: Any, detail: str, now: float) -> int:
        with self._write() as conn:
            return conn.execute(update(jobs).where(where, jobs.c.state == "queued").values(
                state="dropped", detail=detail, updated_at=now)).rowcount

    def job(self, job_id: str) -> Job | None:
        """Return a job by id, or None."""
        with self._read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else as_job(row)

    def jobs_for(self, repo: str, pr_number: int, *, host: str = "github") -> list[Job]:
        """Return every job of one pull (or merge) request, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(jobs).where(same_pull(host, repo, pr_number))
                                .order_by(jobs.c.created_at)).all()
        return [as_job(row) for row in rows]

    def job_counts(self) -> dict[str, int]:
        """Return how many jobs are in each state (every state listed, zeros included)."""
        with self._read() as conn:
            rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {state: 0 for state in STATES} | {state: count for state, count in rows}
