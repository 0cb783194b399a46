"""The ledger's tables as the newest migration leaves them (for building queries; Alembic revisions create them).

Times are epoch seconds passed in by the caller; months are "YYYY-MM" strings (UTC). Money is integer micro-dollars.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, MetaData, Table, Text

MICROS = 1_000_000
STATES = ("queued", "running", "done", "dropped", "failed")
FINAL_STATES = frozenset({"done", "dropped", "failed"})
# A job in these states covers its delivery and its head: a redelivery, or the same head again, is a duplicate.
# "done" belongs here (a reviewed head is not reviewed twice); a failed or dropped job lets a new one be queued.
COVERING_STATES = ("queued", "running", "done")
SCOPES = frozenset({"repo", "installation", "project", "group"})
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

metadata = MetaData()
_ID = BigInteger().with_variant(Integer, "sqlite")

deliveries = Table("deliveries", metadata, Column("delivery_id", Text, primary_key=True),
                   Column("event", Text, nullable=False), Column("received_at", Float, nullable=False))
jobs = Table(
    "jobs", metadata,
    Column("id", Text, primary_key=True), Column("delivery_id", Text, nullable=False),
    Column("event", Text, nullable=False), Column("repo", Text, nullable=False),
    Column("pr_number", Integer, nullable=False), Column("head_sha", Text, nullable=False),
    Column("installation_id", BigInteger), Column("forced", Boolean, nullable=False),
    Column("state", Text, nullable=False), Column("attempts", Integer, nullable=False),  # attempts: the fence
    Column("worker", Text), Column("lease_until", Float), Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False), Column("detail", Text, nullable=False),
    Column("commenter", Text), Column("comment_id", BigInteger),
    Column("held_micros", BigInteger, nullable=False),  # what the current attempt holds in the monthly budgets
    Column("held_month", Text),
    Column("pr_held_micros", BigInteger, nullable=False),  # ... and in its PR's budget
    Column("enqueued_at", Float, nullable=False),  # last time the webhook or the reaper queued it
    Column("host", Text, nullable=False), Column("project_id", BigInteger),
)
budget_months = Table(
    "budget_months", metadata, Column("scope", Text, primary_key=True), Column("key", Text, primary_key=True),
    Column("month", Text, primary_key=True), Column("spent_micros", BigInteger, nullable=False),
    Column("reserved_micros", BigInteger, nullable=False))
pr_budgets = Table(
    "pr_budgets", metadata, Column("host", Text, primary_key=True), Column("repo", Text, primary_key=True),
    Column("pr_number", Integer, primary_key=True),
    Column("spent_micros", BigInteger, nullable=False), Column("reserved_micros", BigInteger, nullable=False))
reviews = Table(
    "reviews", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("job_id", Text), Column("installation_id", BigInteger), Column("repo", Text, nullable=False),
    Column("pr_number", Integer, nullable=False), Column("pr_url", Text, nullable=False),
    Column("head_sha", Text, nullable=False), Column("changed_lines", Integer, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False), Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_micros", BigInteger, nullable=False), Column("estimated", Boolean, nullable=False),
    Column("started_at", Float, nullable=False), Column("finished_at", Float, nullable=False),
    Column("outcome", Text, nullable=False), Column("model", Text), Column("host", Text, nullable=False),
)
calls = Table(
    "calls", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("job_id", Text), Column("attempt", Integer, nullable=False), Column("repo", Text, nullable=False),
    Column("pr_number", Integer, nullable=False), Column("installation_id", BigInteger),
    Column("model", Text, nullable=False), Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False), Column("cost_micros", BigInteger, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),  # when the call started: its month is the budget month it drew on
    Column("review_id", BigInteger), Column("host", Text, nullable=False),
)


def micros(usd: float) -> int:
    """Return dollars as integer micro-dollars."""
    return round(usd * MICROS)


def usd(value: int | None) -> float:
    """Return micro-dollars as dollars."""
    return (value or 0) / MICROS


def check_month(month: str) -> None:
    """Raise ValueError unless `month` is YYYY-MM."""
    if not _MONTH.fullmatch(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")


def month_of(epoch: float) -> str:
    """Return the UTC month (YYYY-MM) of a time: the one month function of budgets, calls and reports."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m")


def month_range(month: str) -> tuple[float, float]:
    """Return the [start, end) epoch seconds of a UTC month."""
    check_month(month)
    year, mon = int(month[:4]), int(month[5:])
    start = datetime(year, mon, 1, tzinfo=timezone.utc)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=timezone.utc)
    return start.timestamp(), end.timestamp()


def scopes(host: str, repo: str, installation_id: int | None) -> list[tuple[str, str]]:
    """Return the budget scopes a review draws on, narrowest first (a fixed order avoids deadlocks).

    GitHub: the repo and the App installation. GitLab: the project and each group above it, so a cap on
    `group:acme` also covers `acme/platform/api`.
    """
    if host == "gitlab":
        parts = repo.split("/")
        return [("project", repo)] + [("group", "/".join(parts[:n])) for n in range(len(parts) - 1, 0, -1)]
    found = [("repo", repo)]
    if installation_id is not None:
        found.append(("installation", str(installation_id)))
    return found
