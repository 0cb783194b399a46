"""The ledger: jobs, budgets, paid calls and reviews in one SQL database (SQLite or PostgreSQL)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import func, select, update

from bot.server.ledger.jobs import JobsMixin
from bot.server.ledger.schema import calls, micros, month_range, reviews, usd
from bot.server.records import CallRow, ReviewRow


class Ledger(JobsMixin):
    """Jobs, deliveries, budgets, calls and reviews in one SQL database."""

    def record_review(self, row: ReviewRow) -> None:
        """Store one finished review and link the calls its job made that no review claims yet."""
        values = {f.name: getattr(row, f.name) for f in fields(ReviewRow) if f.name != "cost_usd"}
        with self._write() as conn:
            review_id = conn.execute(reviews.insert().values(**values, cost_micros=micros(row.cost_usd))
                                     .returning(reviews.c.id)).scalar_one()
            if row.job_id is not None:
                conn.execute(update(calls).where(calls.c.job_id == row.job_id, calls.c.review_id.is_(None))
                             .values(review_id=review_id))

    def reviews(self, *, repo: str | None = None, pr_number: int | None = None, month: str | None = None,
                host: str | None = None) -> list[ReviewRow]:
        """Return reviews, oldest first, filtered by host, repo, PR and the UTC month they finished in."""
        stmt = _filtered(select(reviews), reviews, reviews.c.finished_at, repo, pr_number, month, host)
        with self._read() as conn:
            return [_review(r) for r in conn.execute(stmt.order_by(reviews.c.finished_at, reviews.c.id))]

    def calls(self, *, repo: str | None = None, pr_number: int | None = None, month: str | None = None,
              host: str | None = None) -> list[CallRow]:
        """Return paid model calls, oldest first, filtered by host, repo, PR and the UTC month they started in."""
        stmt = _filtered(select(calls), calls, calls.c.created_at, repo, pr_number, month, host)
        with self._read() as conn:
            return [_call(r) for r in conn.execute(stmt.order_by(calls.c.created_at, calls.c.id))]

    def pr_totals(self, repo: str, pr_number: int, *, host: str = "github") -> tuple[int, int, float]:
        """Return (prompt tokens, completion tokens, dollars) summed over every paid call of a PR."""
        with self._read() as conn:
            prompt, completion, cost = conn.execute(select(
                func.coalesce(func.sum(calls.c.prompt_tokens), 0), func.coalesce(func.sum(calls.c.completion_tokens), 0),
                func.coalesce(func.sum(calls.c.cost_micros), 0),
            ).where(calls.c.host == host, calls.c.repo == repo, calls.c.pr_number == pr_number)).one()
        return int(prompt), int(completion), usd(int(cost))


def _filtered(stmt: Any, table: Any, when: Any, repo: str | None, pr_number: int | None, month: str | None,
              host: str | None) -> Any:
    if host is not None:
        stmt = stmt.where(table.c.host == host)
    if repo is not None:
        stmt = stmt.where(table.c.repo == repo)
    if pr_number is not None:
        stmt = stmt.where(table.c.pr_number == pr_number)
    if month is not None:
        start, end = month_range(month)
        stmt = stmt.where(when >= start, when < end)
    return stmt


def _review(row: Any) -> ReviewRow:
    values = {f.name: getattr(row, f.name) for f in fields(ReviewRow) if f.name not in ("cost_usd", "model")}
    return ReviewRow(**values, cost_usd=usd(row.cost_micros), model=row.model or "")


def _call(row: Any) -> CallRow:
    values = {f.name: getattr(row, f.name) for f in fields(CallRow) if f.name != "cost_usd"}
    return CallRow(**values, cost_usd=usd(row.cost_micros))
