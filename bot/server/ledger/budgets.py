"""Budgets: monthly (repo, installation) and per-PR holds reserved at worst case, settled with each paid call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, select, update

from bot.core.spend import Usage
from bot.server.ledger.base import LedgerBase
from bot.server.ledger.schema import budget_months, calls, check_month, jobs, micros, month_of, pr_budgets, scopes, usd
from bot.server.records import Job


def _less(column: Any, amount: int) -> Any:
    """Return `column - amount`, never below zero."""
    return case((column > amount, column - amount), else_=0)


def _pr_row(host: str, repo: str, pr_number: int) -> Any:
    return (pr_budgets.c.host == host) & (pr_budgets.c.repo == repo) & (pr_budgets.c.pr_number == pr_number)


class BudgetsMixin(LedgerBase):
    """The budget_months, pr_budgets and calls tables."""

    def _ensure_rows(self, conn: Connection, found: list[tuple[str, str]], month: str, job: Job) -> None:
        for scope, key in found:
            conn.execute(self._insert(budget_months).values(
                scope=scope, key=key, month=month, spent_micros=0, reserved_micros=0).on_conflict_do_nothing())
        conn.execute(self._insert(pr_budgets).values(
            host=job.host, repo=job.repo, pr_number=job.pr_number, spent_micros=0, reserved_micros=0,
        ).on_conflict_do_nothing())

    def reserve(self, job: Job, *, started_at: float, amount: float, pr_cap: float | None = None) -> bool:
        """Hold `amount` against the monthly caps and the PR's cap, all or nothing, for this attempt of `job`.

        The month is the one the call starts in (`started_at`), as for its booking by `settle`. False when it
        does not fit, or when this attempt no longer holds the job. Each check and add is one statement under
        the row's lock, so concurrent jobs never hold more than a cap.
        """
        month = month_of(started_at)
        if amount < 0:
            raise ValueError("cannot reserve a negative amount")
        held, found = micros(amount), scopes(job.host, job.repo, job.installation_id)
        with self._write() as conn:
            mine = conn.execute(update(jobs).where(
                jobs.c.id == job.id, jobs.c.attempts == job.attempts, jobs.c.state == "running",
            ).values(held_micros=jobs.c.held_micros + held, pr_held_micros=jobs.c.pr_held_micros + held,
                     held_month=month)).rowcount
            if mine != 1:
                return False
            self._ensure_rows(conn, found, month, job)
            for scope, key in found:
                stmt = update(budget_months).where(budget_months.c.scope == scope, budget_months.c.key == key,
                                                   budget_months.c.month == month)
                limit = self._limits.get((scope, key))
                if limit is not None:
                    stmt = stmt.where(budget_months.c.spent_micros + budget_months.c.reserved_micros + held <= limit)
                if conn.execute(stmt.values(reserved_micros=budget_months.c.reserved_micros + held)).rowcount != 1:
                    conn.rollback()  # undo what this transaction held
                    return False
            stmt = update(pr_budgets).where(_pr_row(job.host, job.repo, job.pr_number))
            if pr_cap is not None:
                stmt = stmt.where(pr_budgets.c.spent_micros + pr_budgets.c.reserved_micros + held <= micros(pr_cap))
            if conn.execute(stmt.values(reserved_micros=pr_budgets.c.reserved_micros + held)).rowcount != 1:
                conn.rollback()
                return False
        return True

    def settle(self, job: Job, *, started_at: float, reserved: float, usage: Usage | None, model: str) -> bool:
        """Book a call the moment it returns and release its hold; return whether this attempt still holds the job.

        The call is booked whatever happens (it was paid), under the time it started: its month's budget and
        its month's call list are the same month, the one its hold was taken in. The hold is released only
        while this attempt holds the job: a later attempt has already taken the old attempt's holds back.
        """
        month = month_of(started_at)
        held, used = micros(reserved), micros(usage.cost_usd) if usage else 0
        with self._write() as conn:
            mine = conn.execute(update(jobs).where(
                jobs.c.id == job.id, jobs.c.attempts == job.attempts, jobs.c.state == "running",
            ).values(held_micros=_less(jobs.c.held_micros, held),
                     pr_held_micros=_less(jobs.c.pr_held_micros, held))).rowcount == 1
            found = scopes(job.host, job.repo, job.installation_id)
            self._ensure_rows(conn, found, month, job)
            self._release(conn, found, month, held if mine else 0, used)
            self._release_pr(conn, job.host, job.repo, job.pr_number, held if mine else 0, used)
            if usage is not None:
                conn.execute(calls.insert().values(
                    job_id=job.id, attempt=job.attempts, repo=job.repo, pr_number=job.pr_number,
                    installation_id=job.installation_id, model=model, prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens, cost_micros=used, estimated=usage.estimated,
                    created_at=started_at, host=job.host))
        return mine

    def _release(self, conn: Connection, found: list[tuple[str, str]], month: str, held: int, used: int) -> None:
        for scope, key in found:
            conn.execute(update(budget_months).where(
                budget_months.c.scope == scope, budget_months.c.key == key, budget_months.c.month == month,
            ).values(reserved_micros=_less(budget_months.c.reserved_micros, held),
                     spent_micros=budget_months.c.spent_micros + used))

    def _release_pr(self, conn: Connection, host: str, repo: str, pr_number: int, held: int, used: int) -> None:
        conn.execute(update(pr_budgets).where(_pr_row(host, repo, pr_number)).values(
            reserved_micros=_less(pr_budgets.c.reserved_micros, held), spent_micros=pr_budgets.c.spent_micros + used))

    def month_spend(self, scope: str, key: str, month: str) -> tuple[float, float | None]:
        """Return (dollars spent in the month, monthly cap from the configuration or None) for a scope."""
        check_month(month)
        with self._read() as conn:
            spent = conn.execute(select(budget_months.c.spent_micros).where(
                budget_months.c.scope == scope, budget_months.c.key == key, budget_months.c.month == month)).scalar()
        limit = self._limits.get((scope, key))
        return usd(spent), None if limit is None else usd(limit)

    def budgets(self) -> list[tuple[str, str, float]]:
        """Return the monthly caps this process was started with."""
        return [(scope, key, usd(limit)) for (scope, key), limit in sorted(self._limits.items())]
