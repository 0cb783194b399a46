"""Webhook deliveries as plain data: signature check and what each event asks of us. Pure."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})


class SignatureError(ValueError):
    """The delivery is not signed with our webhook secret."""


def verify_signature(body: bytes, *, signature: str | None, secret: str) -> None:
    """Check `X-Hub-Signature-256` (HMAC-SHA256 of the raw body) in constant time; raise when it fails."""
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256")
    scheme, _, digest = signature.partition("=")
    if scheme != "sha256" or not digest:
        raise SignatureError("X-Hub-Signature-256 is not sha256=<hex>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise SignatureError("signature does not match")


def sign(body: bytes, secret: str) -> str:
    """Return the `X-Hub-Signature-256` value GitHub would send for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# What GitHub's collaborator-permission answer says for users who may ask for a /review.
WRITE_PERMISSIONS = frozenset({"admin", "write"})


@dataclass(frozen=True)
class ReviewJob:
    """Review this PR head (ids only: no code ever goes into the queue)."""

    repo: str
    pr_number: int
    head_sha: str
    installation_id: int | None
    forced: bool = False  # review the head again even if it was reviewed (a base change, or a /review)
    commenter: str | None = None
    comment_id: int | None = None

    @property
    def explicit(self) -> bool:
        """Return whether a user asked (/review): only that passes the bot-author and skip-label opt-outs."""
        return self.comment_id is not None


@dataclass(frozen=True)
class CancelPull:
    """Drop pending work for a PR (it was closed)."""

    repo: str
    pr_number: int


@dataclass(frozen=True)
class CancelInstallation:
    """Drop pending work for an installation (the App was uninstalled)."""

    installation_id: int


@dataclass(frozen=True)
class Ignore:
    """Nothing to do, and why."""

    reason: str


Route = ReviewJob | CancelPull | CancelInstallation | Ignore


def _installation(payload: dict[str, Any]) -> int | None:
    installation = payload.get("installation") or {}
    return int(installation["id"]) if installation.get("id") is not None else None


def route(event: str, payload: dict[str, Any], *, review_drafts: bool = False) -> Route:
    """Return what a delivery asks of the bot."""
    action = payload.get("action")
    repo = (payload.get("repository") or {}).get("full_name", "")
    if event == "pull_request":
        pr = payload.get("pull_request") or {}
        if action == "closed":
            return CancelPull(repo, int(pr["number"]))
        base_changed = action == "edited" and "base" in (payload.get("changes") or {})
        if action not in PR_ACTIONS and not base_changed:
            return Ignore(f"pull_request {action} needs no review")
        if pr.get("draft") and not review_drafts:
            return Ignore("draft pull request")
        # A new base changes the diff, so the head is reviewed again; nobody asked, so every opt-out holds.
        return ReviewJob(repo, int(pr["number"]), str(pr["head"]["sha"]), _installation(payload),
                         forced=base_changed)
    if event == "issue_comment":
        issue, comment = payload.get("issue") or {}, payload.get("comment") or {}
        body = str(comment.get("body") or "").strip()
        if action != "created" or not issue.get("pull_request") or not body.startswith("/review"):
            return Ignore("not a /review command on a pull request")
        # The head is read when the job runs; the comment id keeps each /review its own job.
        return ReviewJob(repo, int(issue["number"]), f"comment:{comment['id']}", _installation(payload), forced=True,
                         commenter=str((comment.get("user") or {}).get("login", "")), comment_id=int(comment["id"]))
    if event == "installation" and action == "deleted":
        installation = _installation(payload)
        return CancelInstallation(installation) if installation is not None else Ignore("no installation id")
    return Ignore(f"{event} events are not handled")
