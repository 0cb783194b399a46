"""Review one pull request end to end: settings from the base branch, incremental scope,
budget, one review of COMMENT comments, and the summary comment with its spend marker.

The host side is passed in (a `PullPort`), so the Action, the CLI and the server share this flow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from bot.core.batching import Plan, TokenCounter
from bot.core.classify import SkipReason
from bot.core.coverage import Coverage
from bot.core.errors import ReviewError
from bot.core.marker import MAX_PENDING, Marker, fingerprint_in, path_digest
from bot.core.reply import Comment
from bot.core.settings import Settings
from bot.core.spend import Usage, worst_case
from bot.core.summary import MAX_REVIEW_COMMENTS, Overview, SummaryView, code_index, over_limit, print_of
from bot.review.engine import ReviewResult, plan_review, run_review
from bot.review.markdown import render_comment, summary_body
from bot.review.ports import Model, Outcome, PullInfo, PullPort, ReviewRequest
from bot.review.prompting import Prompts
from bot.review.pull_scope import prepare
from bot.review.report import coverage_of

log = logging.getLogger(__name__)


class PostFailed(ReviewError):
    """The model calls were paid but the review could not be rendered or posted; the summary books the spend.

    `outcome` is the run (status "post-failed") for the Action's outputs and job summary.
    """

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def review_pull(
    pr: PullPort,
    *,
    identity: str,
    base_settings: Settings,
    model_for: Callable[[Settings], Model],
    counter: TokenCounter,
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
        view = SummaryView(settings.budget_usd, notes=notes, exhausted=True, noun=info.noun, host_name=info.host_name,
                           budget_hint=info.budget_hint, config_path=ready.config_path)
        pr.upsert_comment(summary.id if summary else None, summary_body(marker, view, key=request.marker_key))
        return Outcome("budget-exhausted", reason=f"the {info.noun}'s budget is spent", marker=marker,
                       head_sha=info.head_sha, budget_usd=settings.budget_usd,
                       coverage=Coverage(stopped=f"the {info.noun}'s budget is spent"), model=settings.model)
    plan = plan_review(ready.files, settings, counter=counter, prompts=prompts, budget_left_usd=left,
                       already_skipped=ready.listed_skips)
    result = _run(plan, model_for, settings, counter, prompts, left, request)
    key = request.marker_key
    index = code_index(plan.batches)
    prints = {c: print_of(key, index, c) for c in result.comments}
    try:
        post = _post(pr, identity, info, ready.since, result, prints, marker, request.run_id)
    except Exception as exc:  # the calls are paid: the summary below must still book them
        log.warning("posting the review of %s failed: %r", info.html_url, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        post = _Posted(error=_one_line(exc))
    new_marker = _advance(marker, info.head_sha, result, [prints[c] for c in post.fresh], posted=not post.error)
    exhausted = settings.budget_usd - new_marker.cost_usd < cheapest
    every_call_failed = bool(result.failed) and len(result.failed) == len(plan.batches)
    failure = (f"Posting this review failed ({post.error}): nothing was posted; its spend is booked above, and "
               "the next run reviews this head again.",) if post.error else ()
    view = SummaryView(settings.budget_usd, plan.masked_secrets, tuple(result.skipped), result.dropped,
                       (*failure, *notes), exhausted, post.already_posted, post.cut, every_call_failed,
                       () if every_call_failed else tuple(result.failed_files), info.noun, info.host_name,
                       info.budget_hint, ready.config_path)
    pr.upsert_comment(summary.id if summary else None, summary_body(new_marker, view, key=key, head=info.head_sha))
    outcome = Outcome("post-failed" if post.error else "reviewed" if post.fresh else "no-findings",
                      reason=post.error, comments=post.posted, unplaced=post.unplaced, usage=result.usage,
                      marker=new_marker, review_url=post.url, head_sha=info.head_sha, skipped=tuple(result.skipped),
                      failed_batches=len(result.failed), changed_lines=plan.changed_lines,
                      budget_usd=settings.budget_usd, model=settings.model,
                      coverage=coverage_of(result, already_posted=post.already_posted))
    if post.error:
        raise PostFailed(f"posting the review failed ({post.error}); this run's ${result.usage.cost_usd:.4f} is "
                         "booked in the summary comment and the next run reviews this head again", outcome)
    return outcome


@dataclass(frozen=True)
class _Posted:
    """What posting the review did: the new comments sent, where they landed, or why it failed."""

    fresh: tuple[Comment, ...] = ()  # new findings sent in the review (their fingerprints join the marker)
    posted: tuple[Comment, ...] = ()
    unplaced: tuple[Comment, ...] = ()
    url: str = ""
    already_posted: int = 0
    cut: tuple[str, ...] = ()
    error: str = ""  # set when posting (or rendering) failed: then nothing was posted


def _post(pr: PullPort, identity: str, info: PullInfo, since: str | None, result: ReviewResult,
          prints: dict[Comment, str], marker: Marker, run_id: str) -> _Posted:
    """Post the findings not already on the PR as one review."""
    known = {fp for c in pr.review_comments() if c.author == identity and (fp := fingerprint_in(c.body))}
    known |= set(marker.fingerprints)  # signed with the marker: a PR cannot plant one
    fresh = [c for c in result.comments if prints[c] not in known]
    fresh, over = over_limit(fresh)
    already_posted = len(result.comments) - len(fresh) - len(over)
    cut = tuple(_cut_lines(fresh, over, info.link_base, prints))
    if not fresh:
        return _Posted(already_posted=already_posted, cut=cut)
    overview = Overview(info.head_sha, len({p for b in result.plan.batches for p in b.paths}), since,
                        tuple(result.skipped), (), len(result.failed), run_id, info.link_base, prints)
    review, unplaced = pr.post_review(info.head_sha, fresh, overview)
    return _Posted(tuple(fresh), tuple(c for c in fresh if c not in unplaced), tuple(unplaced), review.html_url,
                   already_posted, cut)


def _run(plan: Plan, model_for: Callable[[Settings], Model], settings: Settings, counter: TokenCounter, prompts: Prompts,
         left: float, request: ReviewRequest) -> ReviewResult:
    """Send the plan's batches, showing progress where the request asks for it; nothing to send calls no model."""
    if not plan.batches:
        return ReviewResult(plan, (), (), Usage(), ())
    with request.progress(len(plan.batches)) if request.progress else nullcontext() as shown:
        return run_review(plan, model_for(settings), settings, counter=counter, prompts=prompts, budget_left_usd=left,
                          gates=request.gates, on_progress=shown.update if shown else None)


def _one_line(exc: Exception) -> str:
    """Return an error as one short line for the summary and the terminal."""
    text = " ".join(str(exc).split())[:300]
    return text if isinstance(exc, ReviewError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


def _advance(marker: Marker, head: str, result: ReviewResult, new_prints: list[str], *, posted: bool) -> Marker:
    """Return the marker after this run: its spend added, its head, new fingerprints and owed files recorded.

    Failed batches, and a review that could not be posted, are retried next run (the head stays); files left
    out for budget are owed by name, unless there are too many to name: then the head stays too.
    """
    usage = result.usage
    owed = tuple(dict.fromkeys(path_digest(s.path) for s in result.skipped if s.reason is SkipReason.OVER_BUDGET))
    keep_head = bool(result.failed) or not posted or len(owed) > MAX_PENDING
    head_now, pending = (marker.head, marker.pending) if keep_head else (head, owed)
    return Marker(head_now, marker.reviews + (1 if new_prints else 0), marker.prompt_tokens + usage.prompt_tokens,
                  marker.completion_tokens + usage.completion_tokens, marker.cost_usd + usage.cost_usd,
                  marker.estimated or usage.estimated, marker.fingerprints + tuple(new_prints), pending)


def _cut_lines(kept: list[Comment], over: list[Comment], base: str, prints: dict[Comment, str]) -> list[str]:
    """Return what the per-review limits cut from this review, one line each, for the summary."""
    lines = [f"{c.path} line {c.line}: a {c.severity.value} comment past the {MAX_REVIEW_COMMENTS} comments "
             "one review carries" for c in over]
    lines += [f"{c.path} line {c.line}: comment cut to 4,000 characters" for c in kept
              if render_comment(c, base=base, print_=prints[c]).cut]
    return lines
