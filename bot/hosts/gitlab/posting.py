"""Posting a review on GitLab: draft notes published together (one notification, never half a review).

A comment whose line is not in the version's diff never becomes a request; one GitLab refuses (400 naming
line_code) moves to the summary note, the rest are still published. A rerun after a crash or a lost answer
first lists the bot's own pending drafts: drafts of this review's comments are reused, any other is deleted,
so nothing is doubled and nothing stays pending. Without the draft notes API (an old instance), each comment
becomes its own discussion, paced, checked against the published ones before any retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.core.changes import Positions
from bot.core.marker import fingerprint_in
from bot.core.reply import Comment
from bot.core.summary import Overview
from bot.hosts.gitlab.client import GitLabClient, GitLabError
from bot.hosts.gitlab.positions import note_body, position
from bot.review.ports import PostedReview


class Target(Protocol):
    """What posting needs of a merge request (MergeRequestHandle, once info() and files() have read it)."""

    client: GitLabClient
    base: str
    refs: dict[str, str]
    web_url: str

    def line_map(self) -> Positions: ...
    def discussions(self) -> list[dict[str, Any]]: ...


def _match(body: str, wanted: dict[str, Comment]) -> str | None:
    """Return the finding of `wanted` that a posted body carries (its last line), if any."""
    found = fingerprint_in(body)
    return found if found in wanted else None


def _own_drafts(mr: Target) -> list[dict[str, Any]] | None:
    """Return the bot's pending drafts on the MR (GitLab lists only the caller's); None without the API."""
    try:
        return mr.client.call("list draft notes", lambda: mr.client.list(mr.base + "/draft_notes", per_page=100))
    except GitLabError as exc:
        if exc.status in (404, 405):
            return None
        raise


def _delete_draft(mr: Target, did: int) -> None:
    """Delete one of the bot's drafts (already gone is fine)."""
    try:
        mr.client.call("delete a draft note", lambda: mr.client.write("DELETE", f"{mr.base}/draft_notes/{did}"))
    except GitLabError as exc:
        if exc.status != 404:
            raise


def _create_draft(mr: Target, comment: Comment, where: dict[str, Any], overview: Overview) -> bool:
    """Create one draft; False when GitLab refuses its position. A retry first looks for it among the drafts."""
    body, finding = note_body(comment, overview), overview.prints.get(comment, "")

    def landed() -> dict[str, Any] | None:
        return next((d for d in _own_drafts(mr) or [] if finding and fingerprint_in(str(d.get("note"))) == finding), None)

    try:
        mr.client.call(f"create a draft note on {comment.path}", lambda: mr.client.write(
            "POST", mr.base + "/draft_notes", {"note": body, "position": where}), landed=landed)
    except GitLabError as exc:
        if exc.bad_position:
            return False
        raise
    return True


def _publish_each(mr: Target, wanted: dict[str, Comment]) -> list[Comment]:
    """Publish the pending drafts one by one; return the comments whose drafts GitLab refused (then deleted)."""
    refused = []
    for draft in _own_drafts(mr) or []:
        did = int(draft["id"])
        try:
            mr.client.call("publish a draft note", lambda: mr.client.write("PUT", f"{mr.base}/draft_notes/{did}/publish"))
        except GitLabError as exc:
            if not exc.bad_position:
                raise
            _delete_draft(mr, did)
            finding = _match(str(draft.get("note") or ""), wanted)
            if finding is not None:
                refused.append(wanted[finding])
    return refused


def _publish(mr: Target, wanted: dict[str, Comment]) -> list[Comment]:
    """Publish all pending drafts at once (safe to repeat); fall back to one by one when that is refused."""
    try:
        mr.client.call("publish the review", lambda: mr.client.write("POST", mr.base + "/draft_notes/bulk_publish"))
    except GitLabError as exc:
        if not exc.bad_position and exc.status not in (404, 405):
            raise
        return _publish_each(mr, wanted)
    return []


def _as_discussions(mr: Target, placed: list[tuple[Comment, dict[str, Any]]], overview: Overview) -> list[Comment]:
    """Post each comment as its own discussion (paced by the client); return those GitLab refused."""
    refused = []
    for comment, where in placed:
        finding = overview.prints.get(comment, "")

        def landed() -> dict[str, Any] | None:
            return next((d for d in mr.discussions() if finding and any(
                fingerprint_in(str(n.get("body"))) == finding for n in d.get("notes") or [])), None)

        try:
            mr.client.call(f"post a comment on {comment.path}", lambda: mr.client.write(
                "POST", mr.base + "/discussions", {"body": note_body(comment, overview), "position": where}), landed=landed)
        except GitLabError as exc:
            if not exc.bad_position:
                raise
            refused.append(comment)
    return refused


def post_review(mr: Target, head_sha: str, comments: Sequence[Comment],
                overview: Overview) -> tuple[PostedReview, list[Comment]]:
    """Post the comments as one review; return it and the comments that could not be placed."""
    if mr.refs.get("head_sha") != head_sha:
        raise GitLabError(f"the merge request's head moved from {head_sha[:7]} while it was reviewed")
    lines = mr.line_map()
    placed, unplaced = [], []
    for comment in comments:
        where = position(comment, mr.refs, lines)
        if where is None:
            unplaced.append(comment)
        else:
            placed.append((comment, where))
    pending = _own_drafts(mr)
    if pending is None:
        unplaced += _as_discussions(mr, placed, overview)
        return PostedReview(0, mr.web_url), unplaced
    wanted = {overview.prints.get(c, ""): c for c, _ in placed}
    reused: set[str] = set()
    for draft in pending:
        finding = _match(str(draft.get("note") or ""), wanted)
        current = (draft.get("position") or {}).get("head_sha") == mr.refs["head_sha"]
        if finding is not None and finding not in reused and current:
            reused.add(finding)
            continue
        _delete_draft(mr, int(draft["id"]))
    for comment, where in placed:
        if overview.prints.get(comment, "") not in reused and not _create_draft(mr, comment, where, overview):
            unplaced.append(comment)
    if placed:
        unplaced += _publish(mr, wanted)
    return PostedReview(0, mr.web_url), unplaced
