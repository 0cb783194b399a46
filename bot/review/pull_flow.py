"""Review one pull request end to end: settings from the base branch, incremental scope,
budget, one review of COMMENT comments, and the summary comment with its spend marker.

The GitHub side is passed in (a `PullPort`), so the Action, the CLI and the server share this flow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.core.batching import Counter
from bot.core.coverage import Coverage
from bot.core.reply import Comment
from bot.core.settings import Settings
from bot.core.spend import Usage, worst_case
from bot.core.summary import (
    Marker,
    Overview,
    SummaryView,
    fingerprints_in,
    prints_of,
    summary_body,
)
from bot.review.engine import ReviewResult, plan_review, run_review
from bot.review.ports import Model, Outcome, PullPort, ReviewRequest
from bot.review.prompting import Prompts
from bot.review.pull_scope import prepare
from bot.review.report import coverage_of

log = logging.getLogger(__name__)


def review_pull(
    pr: PullPort,
    *,
    identity: str,
    base_settings: Settings,
    model_for: Callable[[Settings], Model],
    counter: Counter,
    prompts: Prompts,
    request: ReviewRequest = ReviewRequest(),
) -> Outcome:
    """Review one PR head once: post what is new, update the summary, return what happened."""
    ready = prepare(pr, identity=identity, base_settings=base_settings, request=request)
    if isinstance(ready, Outcome):
        return ready
    info, settings, notes, summary, marker = ready.info, ready.settings, ready.notes, ready.summary, ready.marker
    left = ready.budget_left_usd
    cheapest = worst_case(1_000, settings.output_tokens, settings.price)
    if left < cheapest:
        view = SummaryView(settings.budget_usd, notes=notes, exhausted=True)
        pr.upsert_comment(summary.id if summary else None, summary_body(marker, view))
        return Outcome("budget-exhausted", reason="the pull request's budget is spent", marker=marker,
                       head_sha=info.head_sha, budget_usd=settings.budget_usd,
                       coverage=Coverage(stopped="the pull request's budget is spent"), model=settings.model)
    plan = plan_review(ready.files, settings, counter=counter, prompts=prompts, budget_left_usd=left,
                       already_skipped=ready.listed_skips)
    result = run_review(plan, model_for(settings), settings, counter=counter, prompts=prompts,
                        budget_left_usd=left, gates=request.gates) if plan.batches else ReviewResult(plan, (), (), Usage(), ())
    known = fingerprints_in(c.body for c in pr.review_comments() if c.author == identity) | set(marker.fingerprints)
    fresh = [c for c in result.comments if not known.intersection(prints_of(c))]
    overview = Overview(info.head_sha, len({p for b in plan.batches for p in b.paths}), ready.since,
                        tuple(result.skipped), (), len(result.failed), request.run_id)
    posted: list[Comment] = []
    unplaced: list[Comment] = []
    url = ""
    if fresh:
        review, unplaced = pr.post_review(info.head_sha, fresh, overview)
        posted, url = [c for c in fresh if c not in unplaced], review.html_url
    new_prints = [p for c in fresh for p in prints_of(c)]
    reviewed_head = marker.head if result.failed else info.head_sha  # failed batches are retried next run
    new_marker = Marker(reviewed_head, marker.reviews + (1 if fresh else 0),
                        marker.prompt_tokens + result.usage.prompt_tokens,
                        marker.completion_tokens + result.usage.completion_tokens,
                        marker.cost_usd + result.usage.cost_usd, marker.estimated or result.usage.estimated,
                        marker.fingerprints + tuple(new_prints))
    exhausted = settings.budget_usd - new_marker.cost_usd < cheapest
    view = SummaryView(settings.budget_usd, plan.masked_secrets, tuple(result.skipped), result.dropped, notes,
                       exhausted)
    pr.upsert_comment(summary.id if summary else None, summary_body(new_marker, view))
    return Outcome("reviewed" if fresh else "no-findings", comments=tuple(posted), unplaced=tuple(unplaced),
                   usage=result.usage, marker=new_marker, review_url=url, head_sha=info.head_sha,
                   skipped=tuple(result.skipped), failed_batches=len(result.failed),
                   changed_lines=plan.changed_lines, budget_usd=settings.budget_usd, model=settings.model,
                   coverage=coverage_of(result, already_posted=len(result.comments) - len(fresh)))
