"""What one PR run works on: settings, skip rules, the earlier marker and the files in scope, read before the model."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.batching import Skipped
from bot.core.classify import SkipReason
from bot.core.diff import FileDiff
from bot.core.marker import Marker
from bot.core.settings import Settings
from bot.review.file_loading import load_files
from bot.review.incremental_scope import since_last_review
from bot.review.ports import Outcome, PostedComment, PullInfo, PullPort, ReviewRequest
from bot.review.prior_state import find_summary, prior_marker
from bot.review.repo_config import effective_settings
from bot.review.skip_policy import pull_skip_reason


@dataclass(frozen=True)
class Prepared:
    """Everything read from the host before the model is asked."""

    info: PullInfo
    settings: Settings
    notes: list[str]
    summary: PostedComment | None
    marker: Marker
    files: list[FileDiff]
    since: str | None
    listed_skips: list[Skipped]
    config_path: str  # the repo config file read, else the first place one is looked for

    @property
    def budget_left_usd(self) -> float:
        """Return what the PR's budget still allows."""
        return self.settings.budget_usd - self.marker.cost_usd


def prepare(pr: PullPort, *, identity: str, base_settings: Settings, request: ReviewRequest) -> Prepared | Outcome:
    """Read the PR, its settings, its marker and the files in scope; an Outcome when there is nothing to do."""
    info = pr.info()
    if request.expected_head and info.head_sha != request.expected_head:
        return Outcome("superseded", reason=f"the {info.noun}'s head is now {info.head_sha[:7]}",
                       head_sha=info.head_sha)
    settings, notes, config_path = effective_settings(pr, info, base_settings, request)
    why = pull_skip_reason(info, settings, request)
    if why:
        return Outcome("skipped", reason=why, head_sha=info.head_sha, budget_usd=settings.budget_usd)
    summary = find_summary(pr.issue_comments(), identity)
    marker = prior_marker(summary, request, notes)
    notes.extend(request.notes)
    again = request.explicit or request.rereview
    if marker.head == info.head_sha and not again:
        return Outcome("up-to-date", reason=f"{info.head_sha[:7]} was already reviewed", marker=marker,
                       head_sha=info.head_sha, budget_usd=settings.budget_usd)
    listing, truncated = pr.files()
    listed_skips = [Skipped("(files past the first 3,000)", SkipReason.NOT_LISTED)] if truncated else []
    files, too_large = load_files(pr, info, listing)
    listed_skips.extend(too_large)
    since = None
    if marker.head and not again:
        files, since = since_last_review(pr, info, marker, files, notes)
    return Prepared(info, settings, notes, summary, marker, files, since, listed_skips, config_path)
