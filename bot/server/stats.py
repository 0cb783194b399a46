"""Figures for /metrics (and the dashboard), read from the ledger."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from bot.server.dashboard import DashboardData
from bot.server.ledger import Ledger
from bot.server.settings import ServerSettings
from bot.server.spend_report import build_report, daily_spend, per_line_extremes


def current_month(now: float) -> str:
    """Return the UTC month of a time as YYYY-MM."""
    return time.strftime("%Y-%m", time.gmtime(now))


def ledger_stats(ledger: Ledger, settings: ServerSettings, now: float | None = None) -> dict[str, Any]:
    """Return job counts, token and dollar totals, review latencies and budget ratios."""
    rows, calls = ledger.reviews(), ledger.calls()
    per_repo: dict[str, float] = defaultdict(float)
    for call in calls:
        per_repo[call.repo] += call.cost_usd
    month = current_month(time.time() if now is None else now)
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


def dashboard_data(ledger: Ledger, now: float) -> DashboardData:
    """Gather this month's figures for the dashboard from the ledger."""
    month = current_month(now)
    rows, calls = ledger.reviews(month=month), ledger.calls(month=month)

    def budget(repo: str) -> tuple[float, float | None]:
        return ledger.month_spend("repo", repo, month)

    report = build_report(rows, calls, month=month, budget=budget)
    cheapest, dearest = per_line_extremes(rows)
    return DashboardData(
        month=month, reviews=len(rows), prompt_tokens=sum(c.prompt_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls), cost_usd=sum(c.cost_usd for c in calls),
        daily=daily_spend(calls, time.gmtime(now).tm_mday),
        top_prs=sorted(report.prs, key=lambda t: -t.cost_usd)[:10],
        budgets=[(t.repo, t.budget_spent_usd or 0.0, t.budget_usd) for t in report.repos if t.budget_usd],
        cheapest=cheapest, dearest=dearest,
    )
