"""Spend reports from ledger rows: totals per repo (or GitLab project) and per PR (or MR), and the dashboard's figures. Pure.

Dollars and tokens come from the paid calls (each booked when it returned, posted or not);
review counts and changed lines come from the reviews.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.hosts.github.urls import pull_web_url
from bot.server.records import CallRow, ReviewRow


@dataclass(frozen=True)
class Totals:
    """Reviews, tokens and dollars of one repo or one PR (a GitLab project or merge request when host is gitlab)."""

    host: str
    repo: str
    pr_number: int | None = None
    pr_url: str = ""
    reviews: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    changed_lines: int = 0
    estimated: bool = False
    budget_usd: float | None = None
    budget_spent_usd: float | None = None

    @property
    def label(self) -> str:
        """Return how people name it: owner/repo#7 on GitHub, gitlab:group/project!7 on GitLab."""
        name = repo_label(self.host, self.repo)
        return name if self.pr_number is None else f"{name}{'!' if self.host == 'gitlab' else '#'}{self.pr_number}"

    @property
    def cost_per_line(self) -> float | None:
        """Return dollars per changed line reviewed."""
        return self.cost_usd / self.changed_lines if self.changed_lines else None

    @property
    def budget_used(self) -> float | None:
        """Return the share of the monthly budget used (repos only, with a month and a budget)."""
        if not self.budget_usd or self.budget_spent_usd is None:
            return None
        return self.budget_spent_usd / self.budget_usd

    def as_dict(self) -> dict[str, Any]:
        """Return the totals as JSON-ready data."""
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        data["cost_per_line_usd"] = None if self.cost_per_line is None else round(self.cost_per_line, 8)
        data["budget_used"] = None if self.budget_used is None else round(self.budget_used, 4)
        return data


@dataclass(frozen=True)
class Report:
    """Totals per repo and per PR, for one filter."""

    month: str | None
    repos: list[Totals] = field(default_factory=list)
    prs: list[Totals] = field(default_factory=list)


def _add_review(into: dict[str, Any], row: ReviewRow) -> None:
    into["reviews"] += 1
    into["changed_lines"] += row.changed_lines


def _add_call(into: dict[str, Any], row: CallRow) -> None:
    into["prompt_tokens"] += row.prompt_tokens
    into["completion_tokens"] += row.completion_tokens
    into["cost_usd"] += row.cost_usd
    into["estimated"] = into["estimated"] or row.estimated


def _empty() -> dict[str, Any]:
    return {"reviews": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "changed_lines": 0,
            "estimated": False}


def repo_label(host: str, repo: str) -> str:
    """Return a repository's name in reports and metrics: GitLab's carry their host (a mirror may share the path)."""
    return f"gitlab:{repo}" if host == "gitlab" else repo


def build_report(rows: Iterable[ReviewRow], calls: Iterable[CallRow], *, month: str | None,
                 budget: Callable[[str, str], tuple[float, float | None]] | None = None,
                 github_web: str = "https://github.com/") -> Report:
    """Total reviews and paid calls per repo and per PR; `budget(host, repo)` gives (spent, limit) for the month.

    `github_web` is the web address of the GitHub the server reviews on (GitHub Enterprise's own), for the links of
    PRs known only by their calls.
    """
    by_repo: dict[tuple[str, str], dict[str, Any]] = defaultdict(_empty)
    by_pr: dict[tuple[str, str, int], dict[str, Any]] = defaultdict(_empty)
    urls: dict[tuple[str, str, int], str] = {}
    for row in rows:
        _add_review(by_repo[(row.host, row.repo)], row)
        _add_review(by_pr[(row.host, row.repo, row.pr_number)], row)
        urls[(row.host, row.repo, row.pr_number)] = row.pr_url
    for call in calls:
        _add_call(by_repo[(call.host, call.repo)], call)
        _add_call(by_pr[(call.host, call.repo, call.pr_number)], call)
        # GitLab's address needs the instance's URL, which a call row does not carry: no link then
        urls.setdefault((call.host, call.repo, call.pr_number),
                        "" if call.host == "gitlab" else pull_web_url(github_web, call.repo, call.pr_number))
    repos = []
    for (host, repo), values in sorted(by_repo.items()):
        spent, limit = budget(host, repo) if budget else (None, None)
        repos.append(Totals(host, repo, **values, budget_usd=limit, budget_spent_usd=spent))
    prs = [Totals(*key, urls[key], **values) for key, values in sorted(by_pr.items())]
    return Report(month, repos, prs)


CSV_FIELDS = ("kind", "host", "repo", "pr_number", "pr_url", "reviews", "prompt_tokens", "completion_tokens", "cost_usd",
              "changed_lines", "cost_per_line_usd", "budget_usd", "budget_used", "estimated")


def report_json(report: Report) -> str:
    """Return the report as JSON."""
    return json.dumps({"month": report.month, "repos": [t.as_dict() for t in report.repos],
                       "pull_requests": [t.as_dict() for t in report.prs]}, indent=2)


def report_csv(report: Report) -> str:
    """Return the report as CSV, one row per repo and per PR."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for kind, items in (("repo", report.repos), ("pr", report.prs)):
        for totals in items:
            writer.writerow({"kind": kind, **totals.as_dict()})
    return out.getvalue()


def _money(value: float | None, places: int = 4) -> str:
    return "-" if value is None else f"${value:.{places}f}"


def report_text(report: Report) -> str:
    """Return the report as aligned tables for people."""
    if not report.repos:
        return f"No reviews recorded{' in ' + report.month if report.month else ''}."
    head = f"Spend{' in ' + report.month if report.month else ''}"
    lines = [head, "", f"{'repository':<32} {'reviews':>7} {'input':>10} {'output':>9} {'dollars':>10} "
             f"{'$/line':>10} {'budget':>8}"]
    for t in report.repos:
        used = "-" if t.budget_used is None else f"{t.budget_used:.0%}"
        lines.append(f"{t.label:<32} {t.reviews:>7} {t.prompt_tokens:>10,} {t.completion_tokens:>9,} "
                     f"{_money(t.cost_usd):>10} {_money(t.cost_per_line, 6):>10} {used:>8}")
    lines += ["", f"{'pull request':<40} {'reviews':>7} {'dollars':>10} {'$/line':>10}"]
    for t in sorted(report.prs, key=lambda p: -p.cost_usd):
        lines.append(f"{t.label:<40} {t.reviews:>7} {_money(t.cost_usd):>10} "
                     f"{_money(t.cost_per_line, 6):>10}")
    total = sum(t.cost_usd for t in report.repos)
    lines += ["", f"total: {sum(t.reviews for t in report.repos)} review(s), {_money(total)}"]
    return "\n".join(lines)


def daily_spend(calls: Sequence[CallRow], today: int) -> list[tuple[int, float]]:
    """Return (day, dollars) for each day of the month up to `today`, zero where nothing was spent."""
    days: dict[int, float] = defaultdict(float)
    for call in calls:
        days[time.gmtime(call.created_at).tm_mday] += call.cost_usd
    return [(day, days.get(day, 0.0)) for day in range(1, today + 1)]


def per_line_extremes(rows: Sequence[ReviewRow], n: int = 3) -> tuple[list[ReviewRow], list[ReviewRow]]:
    """Return the cheapest and the dearest reviews per changed line."""
    priced = sorted((r for r in rows if r.changed_lines and r.cost_usd > 0), key=lambda r: r.cost_usd / r.changed_lines)
    return priced[:n], list(reversed(priced[-n:]))

