"""Figures for /metrics (and the dashboard), read from the ledger."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from bot.server.dashboard import DashboardData
from bot.server.ledger import Ledger
from bot.server.ledger.schema import month_of, scopes
from bot.server.settings import ServerSettings
from bot.server.spend_report import build_report, daily_spend, per_line_extremes, repo_label


def ledger_stats(ledger: Ledger, settings: ServerSettings, now: float | None = None) -> dict[str, Any]:
    """Return job counts, token and dollar totals, review latencies and budget ratios."""
    rows, calls = ledger.reviews(), ledger.calls()
    per_repo: dict[str, float] = defaultdict(float)
    for call in calls:
        per_repo[repo_label(call.host, call.repo)] += call.cost_usd
    month = month_of(time.time() if now is None else now)
    ratios = {}
    for scope, key, _ in ledger.budgets():
        spent, limit = ledger.month_spend(scope, key, month)
        if limit:
            ratios[(scope, key)] = spent / limit
    return {
        "jobs": ledger.job_counts(),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
        "cost_usd": sum(c.cost_usd for c in calls),
        "latencies": [max(0.0, r.finished_at - r.started_at) for r in rows],
        "per_repo_cost": dict(per_repo),
        "budget_ratios": ratios,
    }


def budget_reader(ledger: Ledger, month: str | None) -> Callable[[str, str], tuple[float, float | None]]:
    """Return `budget(host, repo)`: a repository's (spent, monthly cap) in a month (no month: nothing spent, no cap)."""
    def budget(host: str, repo: str) -> tuple[float, float | None]:
        return ledger.month_spend(*scopes(host, repo, None)[0], month) if month else (0.0, None)

    return budget


def dashboard_data(ledger: Ledger, now: float, *, github_web: str = "https://github.com/") -> DashboardData:
    """Gather this month's figures for the dashboard from the ledger."""
    month = month_of(now)
    rows, calls = ledger.reviews(month=month), ledger.calls(month=month)

    report = build_report(rows, calls, month=month, budget=budget_reader(ledger, month), github_web=github_web)
    cheapest, dearest = per_line_extremes(rows)
    return DashboardData(
        month=month, reviews=len(rows), prompt_tokens=sum(c.prompt_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls), cost_usd=sum(c.cost_usd for c in calls),
        daily=daily_spend(calls, time.gmtime(now).tm_mday),
        top_prs=sorted(report.prs, key=lambda t: -t.cost_usd)[:10],
        budgets=[(f"{scope} {key}", ledger.month_spend(scope, key, month)[0], limit) for scope, key, limit in ledger.budgets()],
        cheapest=cheapest, dearest=dearest,
    )
