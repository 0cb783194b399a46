"""What the review body and the summary comment report, the code a fingerprint keys on, and GitHub's size
limits. Pure; the Markdown itself is laid out by bot.review.markdown from template files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.core.batching import Batch, Skipped
from bot.core.diff import Side
from bot.core.marker import fingerprint, is_trivial
from bot.core.reply import Comment, Dropped

MAX_BODY = 65_536  # GitHub's limit on a comment or review body, in characters
MAX_COMMENT_BODY = 4_000  # one inline comment: long enough for any real finding, short enough to read
MAX_REVIEW_COMMENTS = 30  # comments in one review; reviewdog sends at most 30 per request too
MAX_UNPLACED_BODY = 1_500  # a comment moved into the review body (up to 30 of them must fit in one body)
MAX_LISTED = 30  # files listed by name in the summary
MAX_PATH = 200  # characters of a path shown
_RUN = re.compile(r"<!-- mistral-review:run (?P<run>[0-9a-zA-Z._-]+) -->")
_CONTEXT_ROWS = 3  # rows above a trivial range that a fingerprint takes in


def run_id_in(body: str) -> str | None:
    """Return the run id hidden in a review body."""
    match = _RUN.search(body)
    return match["run"] if match else None


def run_line(run_id: str) -> str:
    """Return the hidden line that ends a review body, so a retry can find the review it already posted."""
    return f"<!-- mistral-review:run {run_id} -->" if re.fullmatch(r"[0-9a-zA-Z._-]+", run_id) else ""


CodeIndex = Mapping[tuple[str, Side, int], str]


def code_index(batches: Iterable[Batch]) -> dict[tuple[str, Side, int], str]:
    """Return the text of every diff line the batches hold, by path, side and number."""
    index: dict[tuple[str, Side, int], str] = {}
    for batch in batches:
        for file, hunks in batch.parts:
            for hunk in hunks:
                for ln in hunk.lines:
                    if ln.new_no is not None:
                        index.setdefault((file.path, Side.RIGHT, ln.new_no), ln.text)
                    if ln.old_no is not None:
                        index.setdefault((file.path, Side.LEFT, ln.old_no), ln.text)
    return index


def finding_code(index: CodeIndex, comment: Comment) -> list[str]:
    """Return the code a finding is about: its line range, widened upwards while every line in it is trivial."""
    first = comment.start_line or comment.line
    code = [index.get((comment.path, comment.side, n), comment.quote if n == comment.line else "")
            for n in range(first, comment.line + 1)]
    above = first - 1
    while all(is_trivial(c) for c in code) and above >= first - _CONTEXT_ROWS:
        line = index.get((comment.path, comment.side, above))
        if line is None:
            break
        code.insert(0, line)
        above -= 1
    return code


def print_of(key: bytes, index: CodeIndex, comment: Comment) -> str:
    """Return a comment's fingerprint: the same finding on the same code, wherever the code moved."""
    return fingerprint(key, comment.path, comment.body, finding_code(index, comment))


GITHUB = "GitHub"  # the host the wording defaults to; other hosts name themselves (PullInfo.host_name)
GITHUB_BUDGET_HINT = "the GitHub Action also takes a `budget_usd` input"


@dataclass(frozen=True)
class Overview:
    """What a review body reports besides its comments, and how its comments are marked."""

    head: str
    files_reviewed: int
    since: str | None = None
    skipped: Sequence[Skipped] = ()
    unplaced: Sequence[Comment] = ()
    failed_batches: int = 0
    run_id: str = ""
    link_base: str = ""  # the repository's web address: links into it are kept in the model's text, others become text
    prints: Mapping[Comment, str] = field(default_factory=dict)  # each comment's keyed fingerprint


@dataclass(frozen=True)
class SummaryView:
    """What the summary comment shows beside the marker's totals."""

    budget_usd: float
    masked: int = 0
    skipped: Sequence[Skipped] = ()
    dropped: Sequence[Dropped] = ()
    notes: Sequence[str] = ()
    exhausted: bool = False
    already_posted: int = 0  # findings not repeated because they are already on the PR
    cut: Sequence[str] = ()  # what the per-review limits cut, one line each
    failed: bool = False  # every model call failed: nothing was reviewed
    unreviewed: Sequence[str] = ()  # files of the batches whose model call failed
    noun: str = "pull request"  # "merge request" on GitLab
    host_name: str = GITHUB
    budget_hint: str = GITHUB_BUDGET_HINT  # where else the host's runs set a budget
    config_path: str = ".mistral-review.toml"  # the repo config file read, else the first place one is looked for


def over_limit(comments: Sequence[Comment]) -> tuple[list[Comment], list[Comment]]:
    """Split comments into those one review may carry and those past the per-review cap (the least severe)."""
    ordered = sorted(comments, key=lambda c: (c.severity.rank, c.path, c.line))
    kept = set(ordered[:MAX_REVIEW_COMMENTS])
    return [c for c in comments if c in kept], [c for c in comments if c not in kept]
