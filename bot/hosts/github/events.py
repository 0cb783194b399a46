"""Webhook deliveries as plain data: signature check and what each event asks of us. Pure."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from bot.core.constant_time import same_secret

PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})


class SignatureError(ValueError):
    """The delivery is not signed with our webhook secret."""


class PayloadError(ValueError):
    """A signed delivery lacks a field its event needs, or has one of the wrong type or shape."""


def verify_signature(body: bytes, *, signature: str | None, secret: str) -> None:
    """Check `X-Hub-Signature-256` (HMAC-SHA256 of the raw body) in constant time; raise when it fails."""
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256")
    scheme, _, digest = signature.partition("=")
    if scheme != "sha256" or not digest:
        raise SignatureError("X-Hub-Signature-256 is not sha256=<hex>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not same_secret(digest.strip().lower(), expected):
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
    rereview: bool = False  # review the head again even if it was reviewed (a base change, or a /review)
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


# What the ledger stores must fit its columns on PostgreSQL: 32-bit PR numbers, 64-bit ids, no NUL.
_MAX_NUMBER, _MAX_ID = 2**31 - 1, 2**63 - 1
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}/[A-Za-z0-9._-]{1,100}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_LOGIN = re.compile(r"[A-Za-z0-9_-]{1,39}(\[bot\])?")  # `_` in Enterprise Managed Users' logins


def _name(value: object) -> str:
    return value[:40] if isinstance(value, str) else type(value).__name__


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}{key} is missing or not an object")
    return value


def _whole(parent: dict[str, Any], key: str, where: str, maximum: int) -> int:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise PayloadError(f"{where}{key} is missing or not a positive integer")
    return value


def _text(parent: dict[str, Any], key: str, where: str, shape: re.Pattern[str]) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not shape.fullmatch(value):
        raise PayloadError(f"{where}{key} is missing or malformed")
    return value


def _installation(payload: dict[str, Any]) -> int | None:
    if payload.get("installation") is None:
        return None
    installation = _object(payload, "installation", "")
    return _whole(installation, "id", "installation.", _MAX_ID) if installation.get("id") is not None else None


def _repo(payload: dict[str, Any]) -> str:
    return _text(_object(payload, "repository", ""), "full_name", "repository.", _REPO)


def _pull_request(payload: dict[str, Any], action: str | None, review_drafts: bool) -> Route:
    pr = _object(payload, "pull_request", "")
    number = _whole(pr, "number", "pull_request.", _MAX_NUMBER)
    if action == "closed":
        return CancelPull(_repo(payload), number)
    changes = payload.get("changes")
    base_changed = action == "edited" and isinstance(changes, dict) and "base" in changes
    if action not in PR_ACTIONS and not base_changed:
        return Ignore(f"pull_request {_name(action)} needs no review")
    if pr.get("draft") is True and not review_drafts:
        return Ignore("draft pull request")
    head = _text(_object(pr, "head", "pull_request."), "sha", "pull_request.head.", _SHA)
    # A new base changes the diff, so the head is reviewed again; nobody asked, so every opt-out holds.
    return ReviewJob(_repo(payload), number, head, _installation(payload), rereview=base_changed)


def _issue_comment(payload: dict[str, Any], action: str | None) -> Route:
    issue, comment = payload.get("issue"), payload.get("comment")
    body = comment.get("body") if isinstance(comment, dict) else None
    if (action != "created" or not isinstance(issue, dict) or not issue.get("pull_request")
            or not isinstance(body, str) or not body.strip().startswith("/review")):
        return Ignore("not a /review command on a pull request")
    number = _whole(issue, "number", "issue.", _MAX_NUMBER)
    comment_id = _whole(payload["comment"], "id", "comment.", _MAX_ID)
    commenter = _text(_object(payload["comment"], "user", "comment."), "login", "comment.user.", _LOGIN)
    # The head is read when the job runs; the comment id keeps each /review its own job.
    return ReviewJob(_repo(payload), number, f"comment:{comment_id}", _installation(payload), rereview=True,
                     commenter=commenter, comment_id=comment_id)


def route(event: str, payload: dict[str, Any], *, review_drafts: bool = False) -> Route:
    """Return what a delivery asks of the bot; raise PayloadError when a field it needs is missing or malformed."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    if event == "pull_request":
        return _pull_request(payload, action, review_drafts)
    if event == "issue_comment":
        return _issue_comment(payload, action)
    if event == "installation" and action == "deleted":
        installation = _installation(payload)
        return CancelInstallation(installation) if installation is not None else Ignore("no installation id")
    return Ignore(f"{_name(event)} events are not handled")
