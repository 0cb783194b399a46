"""Figures for /metrics (and the dashboard), read from the ledger."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from bot.ledger import Ledger
from bot.server_settings import ServerSettings


def current_month(now: float) -> str:
    """Return the UTC month of a time as YYYY-MM."""
    return time.strftime("%Y-%m", time.gmtime(now))


def ledger_stats(ledger: Ledger, settings: ServerSettings, now: float | None = None) -> dict[str, Any]:
    """Return job counts, token and dollar totals, review latencies and budget ratios."""
    rows = ledger.reviews()
    per_repo: dict[str, float] = defaultdict(float)
    for row in rows:
        per_repo[row.repo] += row.cost_usd
    month = current_month(time.time() if now is None else now)
    ratios = {}
    for scope, key, _ in settings.monthly_budgets:
        spent, limit = ledger.month_spend(scope, key, month)
        if limit:
            ratios[(scope, key)] = spent / limit
    return {
        "jobs": ledger.job_counts(),
        "prompt_tokens": sum(r.prompt_tokens for r in rows),
        "completion_tokens": sum(r.completion_tokens for r in rows),
        "cost_usd": sum(r.cost_usd for r in rows),
        "latencies": [max(0.0, r.finished_at - r.started_at) for r in rows],
        "per_repo_cost": dict(per_repo),
        "budget_ratios": ratios,
    }
