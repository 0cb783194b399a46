"""The Markdown the bot posts, laid out by the Jinja2 templates in bot/review/templates/.

Not autoescaped HTML: every value a PR or the model wrote goes through the pure escaping filters of
bot.core.markdown, and each body is sized to the hosts' limits (GitHub's, the smaller) here, before the template lays it out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from bot.core.markdown import TRUNCATED, clean, code_span, escape_text, fence, model_markdown, truncate
from bot.core.marker import Marker, fingerprint_line
from bot.core.reply import Comment
from bot.core.severity import severity_counts
from bot.core.summary import (
    MAX_BODY,
    MAX_COMMENT_BODY,
    MAX_LISTED,
    MAX_PATH,
    MAX_UNPLACED_BODY,
    Overview,
    SummaryView,
    run_line,
)

TEMPLATES = Path(__file__).parent / "templates"
_SUGGESTION_ROOM = MAX_COMMENT_BODY // 2
_NOTE_LIMIT = 500


def _path(text: str) -> str:
    """Return a path as a code span; a long one keeps its start and its end (the file name)."""
    half = MAX_PATH // 2
    return code_span(text if len(text) <= MAX_PATH else f"{text[:half]}…{text[-half:]}")


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters.update(code=code_span, path=_path, text=lambda s: escape_text(truncate(str(s), _NOTE_LIMIT)))
    return env


def _render(name: str, **values: Any) -> str:
    return _env().get_template(name).render(**values).strip("\n")


@dataclass(frozen=True)
class RenderedComment:
    """A review comment's Markdown, and whether anything of it was cut to fit."""

    body: str
    cut: bool


@functools.lru_cache(maxsize=256)  # posting, bisection and the summary's cut list render the same comments
def render_comment(comment: Comment, *, base: str, print_: str) -> RenderedComment:
    """Return a review comment's body: severity, the model's text made safe, the suggestion, the fingerprint.

    `base` is the repository's web address (bot.core.markdown.link_base): links elsewhere become text.
    """
    suggestion = fence(comment.suggestion, "suggestion") if comment.suggestion is not None else ""
    note = ""
    if len(suggestion) > _SUGGESTION_ROOM:
        suggestion, note = "", "_A suggestion too long to show was left out._"
    elif comment.suggestion is not None and clean(comment.suggestion) != comment.suggestion:
        suggestion, note = "", "_A suggestion with invisible control characters was left out._"
    fixed = _render("comment.md.j2", severity=comment.severity.value, text="", suggestion=suggestion, note=note,
                    fingerprint_line=fingerprint_line(print_) if print_ else "")
    room = MAX_COMMENT_BODY - len(fixed)
    full = model_markdown(comment.body, base=base, limit=4 * MAX_COMMENT_BODY)
    text = full if len(full) <= room else model_markdown(comment.body, base=base, limit=room)
    body = _render("comment.md.j2", severity=comment.severity.value, text=text, suggestion=suggestion, note=note,
                   fingerprint_line=fingerprint_line(print_) if print_ else "")
    return RenderedComment(body, cut=bool(note) or text != full or len(comment.body) > 8 * MAX_COMMENT_BODY)


def comment_body(comment: Comment, overview: Overview) -> str:
    """Return the Markdown of one inline comment of this review."""
    return render_comment(comment, base=overview.link_base, print_=overview.prints.get(comment, "")).body


def unplaced_line(comment: Comment, base: str) -> str:
    """Return one line naming a comment the host would not place, its text made safe like every other body."""
    side = "old" if comment.side.value == "LEFT" else "new"
    text = model_markdown(comment.body, base=base, limit=MAX_UNPLACED_BODY, inline=True)
    return f"- {_path(comment.path)} line {comment.line} ({side}), **{comment.severity.value}**: {text}"


def review_body(comments: Sequence[Comment], overview: Overview) -> str:
    """Return the review's own body: what was reviewed and what was not, under GitHub's size limit."""
    scope = f"changes since {code_span(overview.since[:7])}" if overview.since else "the whole pull request"
    unplaced = [{"path": c.path, "line": c.line, "side": c.side, "severity": c.severity,
                 "text": model_markdown(c.body, base=overview.link_base, limit=MAX_UNPLACED_BODY)} for c in overview.unplaced]
    body = _render("review.md.j2", scope=scope, head=overview.head[:7], files_reviewed=overview.files_reviewed,
                   count=len(comments) + len(overview.unplaced),
                   severities=severity_counts([*comments, *overview.unplaced]),
                   failed_batches=overview.failed_batches, skipped=list(overview.skipped[:20]),
                   more_skipped=max(0, len(overview.skipped) - 20), unplaced=unplaced, run_line=run_line(overview.run_id))
    if len(body) > MAX_BODY:  # cannot happen with the caps above; kept so that no review is ever refused for size
        tail = "\n" + run_line(overview.run_id)
        body = truncate(body[:MAX_BODY - len(tail) - 1], MAX_BODY - len(tail) - 1) + tail
    return body


def summary_body(marker: Marker, view: SummaryView, *, key: bytes, head: str = "") -> str:
    """Return the PR's one summary comment: spend so far, budget left, what was not reviewed; the marker last."""
    dropped = ", ".join(sorted({d.reason for d in view.dropped}))
    marker_line = marker.line(key)
    body = _render("summary.md.j2", marker=marker, view=view, left=max(0.0, view.budget_usd - marker.cost_usd),
                   failed=view.failed, head=(head or marker.head or "")[:7],
                   unreviewed=list(view.unreviewed[:MAX_LISTED]), more_unreviewed=max(0, len(view.unreviewed) - MAX_LISTED),
                   skipped=list(view.skipped[:MAX_LISTED]), more_skipped=max(0, len(view.skipped) - MAX_LISTED),
                   dropped=dropped, notes=list(view.notes[:10]), marker_line=marker_line)
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY - len(marker_line) - len(TRUNCATED) - 4] + f"{TRUNCATED}\n\n{marker_line}"
    return body
