"""GitHub's rules for posting a review: comment anchors, and finding refused anchors by bisection.

GitHub refuses a whole review (422) when one comment's line is not in its diff; testing halves as pending
reviews finds the offenders in about log2 n requests instead of one per comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from bot.core.errors import AnchorRejected
from bot.core.reply import Comment
from bot.core.summary import Overview
from bot.review.markdown import comment_body, review_body
from bot.review.ports import PostedReview


class ReviewPoster(Protocol):
    """The two GitHub calls that posting needs."""

    def create_review(self, head_sha: str, body: str, comments: list[dict[str, Any]], *,
                      pending: bool = False, run_id: str = "") -> PostedReview: ...
    def delete_pending_review(self, review_id: int) -> None: ...


def _api_comment(comment: Comment, overview: Overview) -> dict[str, Any]:
    out: dict[str, Any] = {"path": comment.path, "body": comment_body(comment, overview), "line": comment.line,
                           "side": comment.side.value}
    if comment.start_line is not None:
        out.update(start_line=comment.start_line, start_side=comment.side.value)
    return out


def _bad_anchors(pr: ReviewPoster, head: str, comments: Sequence[Comment], overview: Overview, *,
                 rejected: bool = False) -> list[Comment]:
    """Find the comments GitHub will not place, testing halves as pending reviews (log2 n requests)."""
    if not rejected:
        try:
            pending = pr.create_review(head, "", [_api_comment(c, overview) for c in comments], pending=True)
        except AnchorRejected:
            rejected = True
        else:
            pr.delete_pending_review(pending.id)
            return []
    if len(comments) == 1:
        return list(comments)
    middle = len(comments) // 2
    return _bad_anchors(pr, head, comments[:middle], overview) + _bad_anchors(pr, head, comments[middle:], overview)


def post_review(pr: ReviewPoster, head: str, comments: Sequence[Comment], overview: Overview) -> tuple[PostedReview, list[Comment]]:
    """Post one review; comments GitHub cannot anchor move into its body instead of being lost."""
    try:
        body = review_body(comments, overview)
        return pr.create_review(head, body, [_api_comment(c, overview) for c in comments],
                                run_id=overview.run_id), []
    except AnchorRejected:
        bad = _bad_anchors(pr, head, comments, overview, rejected=True)  # the whole set was just refused
        if not bad:
            raise
        good = [c for c in comments if c not in bad]
        body = review_body(good, replace(overview, unplaced=tuple(bad)))
        return pr.create_review(head, body, [_api_comment(c, overview) for c in good], run_id=overview.run_id), bad
