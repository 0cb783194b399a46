"""What earlier runs left on a pull request: the bot's own summary comment and the spend marker it carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.core.marker import Marker, MarkerError, is_summary, parse_marker
from bot.review.ports import PostedComment, ReviewRequest


def find_summary(comments: Sequence[PostedComment], identity: str) -> PostedComment | None:
    """Return the bot's own summary comment, or None (only the bot's identity counts, never a look-alike)."""
    own = [c for c in comments if c.author == identity and is_summary(c.body)]  # the bot's own, marker last
    return own[0] if own else None


def in_step(marker: Marker, totals: tuple[int, int, float]) -> Marker:
    """Take the higher of the marker's and the ledger's totals (either may have missed a run)."""
    prompt, completion, cost = totals
    if cost <= marker.cost_usd:
        return marker
    return replace(marker, prompt_tokens=max(prompt, marker.prompt_tokens),
                   completion_tokens=max(completion, marker.completion_tokens), cost_usd=cost)


def prior_marker(summary: PostedComment | None, request: ReviewRequest, notes: list[str]) -> Marker:
    """Return the marker of the summary (a bad one is noted and ignored), in step with the ledger's totals."""
    marker = Marker()
    if summary is not None:
        try:
            marker = parse_marker(summary.body, request.marker_key) or Marker()
        except MarkerError as exc:
            notes.append(f"The previous summary's marker was ignored: {exc}.")
    if request.ledger_totals is not None:
        marker = in_step(marker, request.ledger_totals)
    return marker
