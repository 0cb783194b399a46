"""Review one pull request end to end: settings from the base branch, incremental scope,
budget, one review of COMMENT comments, and the summary comment with its spend marker.

The GitHub side is passed in (a `PullPort`), so the Action, the CLI and the server share this flow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.core.batching import Counter, Skipped
from bot.core.classify import SkipReason
from bot.core.diff import FileDiff, decode, diff_texts, parse_github_file, parse_github_files
from bot.core.errors import AnchorRejected
from bot.core.incremental import changed_since
from bot.core.reply import Comment
from bot.core.settings import REPO_CONFIG_PATH, Settings, parse_repo_config
from bot.core.spend import Usage, worst_case
from bot.core.summary import (
    Marker,
    MarkerError,
    Overview,
    SummaryView,
    comment_body,
    fingerprints_in,
    parse_marker,
    prints_of,
    review_body,
    summary_body,
)
from bot.review.engine import BudgetGate, Model, ReviewResult, plan_review, run_review
from bot.review.ports import Comparison, PostedComment, PostedReview, PullInfo
from bot.review.prompting import Prompts

log = logging.getLogger(__name__)
SUMMARY_TAG = "<!-- mistral-review:summary "


class PullPort(Protocol):
    """The GitHub calls the flow needs (see bot.hosts.github.client.PullRequestHandle)."""

    def info(self) -> PullInfo: ...
    def files(self) -> tuple[list[dict[str, Any]], bool]: ...
    def file_text(self, path: str, ref: str) -> bytes | None: ...
    def compare(self, base: str, head: str) -> Comparison | None: ...
    def review_comments(self) -> list[PostedComment]: ...
    def issue_comments(self) -> list[PostedComment]: ...
    def create_review(self, head_sha: str, body: str, comments: list[dict[str, Any]], *,
                      pending: bool = False, run_id: str = "") -> PostedReview: ...
    def delete_pending_review(self, review_id: int) -> None: ...
    def upsert_comment(self, comment_id: int | None, body: str) -> int: ...


@dataclass(frozen=True)
class Outcome:
    """What a PR run did, for the Action's outputs, the server's ledger and the CLI."""

    status: str  # reviewed, no-findings, up-to-date, skipped, superseded, budget-exhausted
    reason: str = ""
    comments: tuple[Comment, ...] = ()
    unplaced: tuple[Comment, ...] = ()
    usage: Usage = field(default_factory=Usage)
    marker: Marker = field(default_factory=Marker)
    review_url: str = ""
    head_sha: str = ""
    skipped: tuple[Skipped, ...] = ()
    failed_batches: int = 0
    changed_lines: int = 0
    budget_usd: float = 0.0

    @property
    def posted(self) -> tuple[Comment, ...]:
        """Return every comment that reached the PR, inline or in the review body."""
        return self.comments + self.unplaced


@dataclass(frozen=True)
class ReviewRequest:
    """How this run was asked for."""

    force: bool = False  # an explicit /review: re-review the current head
    review_drafts: bool = False
    run_id: str = "run"
    overrides: Mapping[str, Any] = field(default_factory=dict)  # Action inputs or CLI flags
    budget_cap_usd: float | None = None  # the operator's per-PR ceiling, above any repo file
    gates: Sequence[BudgetGate] = ()  # the server's monthly budgets
    ledger_totals: tuple[int, int, float] | None = None  # the server's own record of this PR's spend
    notes: Sequence[str] = ()  # operator notices for the summary (budget alerts)
    expected_head: str | None = None  # the head a queued job was for: a newer one supersedes it


def effective_settings(pr: PullPort, info: PullInfo, base: Settings, request: ReviewRequest) -> tuple[Settings, list[str]]:
    """Apply the repo's TOML from the base branch (never the head), then the run's overrides and caps."""
    notes: list[str] = []
    settings = base
    text = pr.file_text(REPO_CONFIG_PATH, info.base_sha)
    if text is not None:
        settings, notes = parse_repo_config(decode(text), base)
    settings = settings.with_values(request.overrides)
    if request.budget_cap_usd is not None and settings.budget_usd > request.budget_cap_usd:
        settings = replace(settings, budget_usd=request.budget_cap_usd)
    return settings, notes


def pull_skip_reason(info: PullInfo, settings: Settings, request: ReviewRequest) -> str | None:
    """Return why this PR is not reviewed at all, or None."""
    if info.state != "open":
        return f"the pull request is {info.state}"
    if info.draft and not request.review_drafts:
        return "the pull request is a draft"
    if info.author_is_bot and not settings.review_bots and not request.force:
        return f"the author {info.author} is a bot"
    labels = sorted(set(info.labels) & set(settings.skip_labels))
    if labels and not request.force:
        return f"the pull request is labelled {labels[0]}"
    return None


def load_files(pr: PullPort, info: PullInfo, entries: list[dict[str, Any]]) -> list[FileDiff]:
    """Parse the listed files; diff the base and head blobs ourselves where GitHub left `patch` out."""
    files: list[FileDiff] = []
    merge_base: str | None = None
    for entry in entries:
        changes = int(entry.get("additions", 0)) + int(entry.get("deletions", 0))
        if entry.get("patch") or not changes:
            parsed = parse_github_file(entry)
            if not entry.get("patch") and entry.get("status") != "renamed":
                parsed = replace(parsed, binary=True)  # no patch and no line counts: GitHub's binary files
            files.append(parsed)
            continue
        if merge_base is None:
            cmp = pr.compare(info.base_sha, info.head_sha)
            merge_base = (cmp.merge_base if cmp else None) or info.base_sha
        path, old_path = str(entry["filename"]), str(entry.get("previous_filename") or entry["filename"])
        old = None if entry.get("status") == "added" else pr.file_text(old_path, merge_base)
        new = None if entry.get("status") == "removed" else pr.file_text(path, info.head_sha)
        files.append(diff_texts(path, old_path, old, new))
    return files


def _in_step(marker: Marker, totals: tuple[int, int, float]) -> Marker:
    """Take the higher of the marker's and the ledger's totals (either may have missed a run)."""
    prompt, completion, cost = totals
    if cost <= marker.cost_usd:
        return marker
    return replace(marker, prompt_tokens=max(prompt, marker.prompt_tokens),
                   completion_tokens=max(completion, marker.completion_tokens), cost_usd=cost)


def _find_summary(comments: Sequence[PostedComment], identity: str) -> PostedComment | None:
    own = [c for c in comments if c.author == identity and SUMMARY_TAG in c.body]
    return own[0] if own else None


def _api_comment(comment: Comment) -> dict[str, Any]:
    out: dict[str, Any] = {"path": comment.path, "body": comment_body(comment), "line": comment.line,
                           "side": comment.side.value}
    if comment.start_line is not None:
        out.update(start_line=comment.start_line, start_side=comment.side.value)
    return out


def _bad_anchors(pr: PullPort, head: str, comments: Sequence[Comment], *, rejected: bool = False) -> list[Comment]:
    """Find the comments GitHub will not place, testing halves as pending reviews (log2 n requests)."""
    if not rejected:
        try:
            pending = pr.create_review(head, "", [_api_comment(c) for c in comments], pending=True)
        except AnchorRejected:
            rejected = True
        else:
            pr.delete_pending_review(pending.id)
            return []
    if len(comments) == 1:
        return list(comments)
    middle = len(comments) // 2
    return _bad_anchors(pr, head, comments[:middle]) + _bad_anchors(pr, head, comments[middle:])


def post_review(pr: PullPort, head: str, comments: Sequence[Comment], overview: Overview) -> tuple[PostedReview, list[Comment]]:
    """Post one review; comments GitHub cannot anchor move into its body instead of being lost."""
    try:
        body = review_body(comments, overview)
        return pr.create_review(head, body, [_api_comment(c) for c in comments], run_id=overview.run_id), []
    except AnchorRejected:
        bad = _bad_anchors(pr, head, comments, rejected=True)  # the whole set was just refused
        if not bad:
            raise
        good = [c for c in comments if c not in bad]
        body = review_body(good, replace(overview, unplaced=tuple(bad)))
        return pr.create_review(head, body, [_api_comment(c) for c in good], run_id=overview.run_id), bad


@dataclass(frozen=True)
class Prepared:
    """Everything read from GitHub before the model is asked."""

    info: PullInfo
    settings: Settings
    notes: list[str]
    summary: PostedComment | None
    marker: Marker
    files: list[FileDiff]
    since: str | None
    listed_skips: list[Skipped]

    @property
    def budget_left_usd(self) -> float:
        """Return what the PR's budget still allows."""
        return self.settings.budget_usd - self.marker.cost_usd


def prepare(pr: PullPort, *, identity: str, base_settings: Settings, request: ReviewRequest) -> Prepared | Outcome:
    """Read the PR, its settings, its marker and the files in scope; an Outcome when there is nothing to do."""
    info = pr.info()
    if request.expected_head and info.head_sha != request.expected_head:
        return Outcome("superseded", reason=f"the pull request's head is now {info.head_sha[:7]}",
                       head_sha=info.head_sha)
    settings, notes = effective_settings(pr, info, base_settings, request)
    why = pull_skip_reason(info, settings, request)
    if why:
        return Outcome("skipped", reason=why, head_sha=info.head_sha, budget_usd=settings.budget_usd)
    summary = _find_summary(pr.issue_comments(), identity)
    marker = Marker()
    if summary is not None:
        try:
            marker = parse_marker(summary.body) or Marker()
        except MarkerError as exc:
            notes.append(f"The previous summary's marker was ignored: {exc}.")
    if request.ledger_totals is not None:
        marker = _in_step(marker, request.ledger_totals)
    notes.extend(request.notes)
    if marker.head == info.head_sha and not request.force:
        return Outcome("up-to-date", reason=f"{info.head_sha[:7]} was already reviewed", marker=marker,
                       head_sha=info.head_sha, budget_usd=settings.budget_usd)
    entries, truncated = pr.files()
    listed_skips = [Skipped("(files past the first 3,000)", SkipReason.NOT_LISTED)] if truncated else []
    files = load_files(pr, info, entries)
    since = None
    if marker.head and not request.force:
        cmp = pr.compare(marker.head, info.head_sha)
        if cmp is not None and cmp.status == "ahead":  # a force-push (diverged, behind) reviews everything
            touched = parse_github_files([f for f in cmp.files if f.get("patch")])
            whole = {str(f["filename"]) for f in cmp.files if not f.get("patch")}
            cut, _ = changed_since([f for f in files if f.path not in whole], touched)
            files = cut + [f for f in files if f.path in whole]
            since = marker.head
    return Prepared(info, settings, notes, summary, marker, files, since, listed_skips)


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
                       head_sha=info.head_sha, budget_usd=settings.budget_usd)
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
        review, unplaced = post_review(pr, info.head_sha, fresh, overview)
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
                   changed_lines=plan.changed_lines, budget_usd=settings.budget_usd)
