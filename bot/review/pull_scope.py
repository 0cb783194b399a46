"""What one PR run works on: settings from the base branch, the skip rules, the marker and the files in scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.batching import Skipped
from bot.core.changes import ListedFile, read_listed
from bot.core.classify import SkipReason
from bot.core.diff import FileDiff, FileStatus, decode, diff_texts
from bot.core.incremental import changed_since
from bot.core.marker import Marker, MarkerError, is_summary, parse_marker, path_digest
from bot.core.settings import REPO_CONFIG_PATH, Settings, check_model, parse_repo_config
from bot.core.sizecaps import SizeCaps, TooLarge, blob_fits, fits
from bot.review.ports import Outcome, PostedComment, PullInfo, PullPort, ReviewRequest

CAPS = SizeCaps()


def effective_settings(pr: PullPort, info: PullInfo, base: Settings, request: ReviewRequest) -> tuple[Settings, list[str]]:
    """Apply the repo's TOML from the base branch (never the head), then the run's overrides and caps."""
    notes: list[str] = []
    settings = base
    try:
        text = pr.file_text(REPO_CONFIG_PATH, info.base_sha, max_bytes=CAPS.blob_bytes)
    except TooLarge as exc:
        text, notes = None, [f"{REPO_CONFIG_PATH} is {exc.size:,} bytes, over the {CAPS.blob_bytes:,}-byte cap: "
                             "the defaults were used."]
    if text is not None:
        settings, notes = parse_repo_config(decode(text), base)
    settings = settings.with_values(request.overrides)
    settings, refused = check_model(settings, configured=str(request.overrides.get("model") or base.model))
    notes.extend([refused] if refused else [])
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


def _blobs(pr: PullPort, info: PullInfo, listed: ListedFile, merge_base: str) -> FileDiff | None:
    """Diff the base and head blobs of a file the host sent without a patch; None when one is over the caps."""
    path, old_path = listed.path, listed.old_path
    added = listed.status is FileStatus.ADDED and old_path == path  # a copy is diffed against its source
    try:
        old = None if added else pr.file_text(old_path, merge_base, max_bytes=CAPS.blob_bytes)
        new = None if listed.status is FileStatus.REMOVED else pr.file_text(path, info.head_sha, max_bytes=CAPS.blob_bytes)
    except TooLarge:
        return None
    if not (blob_fits(old, CAPS) and blob_fits(new, CAPS)):
        return None
    return diff_texts(path, old_path, old, new)


def load_files(pr: PullPort, info: PullInfo, listing: list[ListedFile]) -> tuple[list[FileDiff], list[Skipped]]:
    """Read the listed files; diff the base and head blobs ourselves where the host left the patch out.

    A patch or blob over the size caps is never parsed (a blob is not even fetched): it is listed as too large.
    """
    files: list[FileDiff] = []
    too_large: list[Skipped] = []
    merge_base: str | None = None
    for listed in listing:
        changes = listed.changes
        if listed.patch and not fits(listed.patch, CAPS):
            too_large.append(Skipped(listed.path, SkipReason.TOO_LARGE, changes))
            continue
        if listed.patch or not (changes or listed.omitted):
            parsed = read_listed(listed)
            if not listed.patch and listed.status is not FileStatus.RENAMED:
                parsed = replace(parsed, binary=True)  # no patch and no line counts: a binary file
            files.append(parsed)
            continue
        if merge_base is None:
            cmp = pr.compare(info.base_sha, info.head_sha)
            merge_base = (cmp.merge_base if cmp else None) or info.base_sha
        diffed = _blobs(pr, info, listed, merge_base)
        if diffed is None:
            too_large.append(Skipped(listed.path, SkipReason.TOO_LARGE, changes))
        else:
            files.append(diffed)
    return files, too_large


def _in_step(marker: Marker, totals: tuple[int, int, float]) -> Marker:
    """Take the higher of the marker's and the ledger's totals (either may have missed a run)."""
    prompt, completion, cost = totals
    if cost <= marker.cost_usd:
        return marker
    return replace(marker, prompt_tokens=max(prompt, marker.prompt_tokens),
                   completion_tokens=max(completion, marker.completion_tokens), cost_usd=cost)


def _find_summary(comments: Sequence[PostedComment], identity: str) -> PostedComment | None:
    own = [c for c in comments if c.author == identity and is_summary(c.body)]  # the bot's own, marker last
    return own[0] if own else None


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
            marker = parse_marker(summary.body, request.marker_key) or Marker()
        except MarkerError as exc:
            notes.append(f"The previous summary's marker was ignored: {exc}.")
    if request.ledger_totals is not None:
        marker = _in_step(marker, request.ledger_totals)
    notes.extend(request.notes)
    again = request.force or request.rereview
    if marker.head == info.head_sha and not again:
        return Outcome("up-to-date", reason=f"{info.head_sha[:7]} was already reviewed", marker=marker,
                       head_sha=info.head_sha, budget_usd=settings.budget_usd)
    listing, truncated = pr.files()
    listed_skips = [Skipped("(files past the first 3,000)", SkipReason.NOT_LISTED)] if truncated else []
    files, too_large = load_files(pr, info, listing)
    listed_skips.extend(too_large)
    since = None
    if marker.head and not again:
        cmp = pr.compare(marker.head, info.head_sha)
        if cmp is not None and cmp.status == "ahead" and not cmp.complete:
            notes.append("This push changed more files than the host's compare lists, and which ones could not be "
                         "told: the whole pull request was reviewed again.")
        elif cmp is not None and cmp.status == "ahead":  # a force-push (diverged, behind) reviews everything
            readable = [f for f in cmp.files if f.patch and fits(f.patch, CAPS)]
            touched = [read_listed(f) for f in readable]
            owed = set(marker.pending)  # left out of the last run for budget: reviewed whole now
            whole = {f.path for f in cmp.files} - {f.path for f in readable}
            whole |= {f.path for f in files if path_digest(f.path) in owed}
            cut, _ = changed_since([f for f in files if f.path not in whole], touched)
            files = cut + [f for f in files if f.path in whole]
            since = marker.head
    return Prepared(info, settings, notes, summary, marker, files, since, listed_skips)


