"""The merge policy for anchored comments: one comment per line, the severity floor and the cap. Pure.

Comments on the same line merge (the more severe keeps its range, a suggestion only with its own range);
those below the minimum severity and past the most comments a review carries are dropped with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.core.diff import Side
from bot.core.reply import Comment, Dropped, squash_space
from bot.core.severity import Severity

MERGED_BODY_LIMIT = 8_000

SUGGESTION_LEFT_OUT = ("_A suggested change from a merged comment was left out: it was written for a different "
                       "line range than this comment's._")


def _merge(first: Comment, second: Comment) -> Comment:
    """Merge two comments on one line; the more severe keeps its range, and a suggestion only with its own range.

    A suggestion replaces exactly the lines of its comment's range: moved onto another range, applying it
    would duplicate or delete lines. One that cannot be kept is left out and the body says so (once).
    """
    keep, other = (first, second) if first.severity.rank <= second.severity.rank else (second, first)
    # Past what one comment can show (4,000 characters), more text is only cost: 10,000 comments on a few
    # lines made this quadratic.
    body = keep.body
    if len(body) < MERGED_BODY_LIMIT and squash_space(other.body) not in squash_space(body):
        body = f"{body}\n\n{other.body}"
    suggestion = keep.suggestion
    if other.suggestion is not None and other.suggestion != suggestion:
        if suggestion is None and other.start_line == keep.start_line:
            suggestion = other.suggestion
        elif SUGGESTION_LEFT_OUT not in body:
            body = f"{body}\n\n{SUGGESTION_LEFT_OUT}"
    return replace(keep, body=body, suggestion=suggestion)


def finalise(
    comments: Iterable[Comment], *, max_comments: int, min_severity: Severity = Severity.NIT
) -> tuple[list[Comment], list[Dropped]]:
    """Merge comments on the same line, drop those below the floor, keep the most severe up to the cap."""
    dropped: list[Dropped] = []
    merged: dict[tuple[str, Side, int], Comment] = {}
    for comment in comments:
        key = (comment.path, comment.side, comment.line)
        merged[key] = _merge(merged[key], comment) if key in merged else comment
    for key, comment in list(merged.items()):
        if not comment.severity.at_least(min_severity):
            dropped.append(Dropped("below_min_severity", comment.path, comment.line, comment.severity.value))
            del merged[key]
    ordered = sorted(merged.values(), key=lambda c: (c.severity.rank, c.path, c.line))
    for extra in ordered[max_comments:]:
        dropped.append(Dropped("over_max_comments", extra.path, extra.line, extra.severity.value))
    kept = sorted(ordered[:max_comments], key=lambda c: (c.path, c.line, c.side.value))
    return kept, dropped
