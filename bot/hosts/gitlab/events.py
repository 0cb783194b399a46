"""GitLab webhook deliveries as plain data: the token and signature checks, and what each event asks. Pure.

Triggers: a merge request opened or reopened, updated with `oldrev` (new commits), or marked ready; drafts are
skipped; a `/review` note on a merge request asks for a review of the current head again (the webhook checks the author's access
before anything is recorded).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from bot.core.constant_time import same_secret
from bot.core.numbers import SECONDS_DIGITS, bounded_int

DRAFT_TITLE = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s*-|draft\s|wip:|\[wip\]|\(wip\)|wip\s)", re.IGNORECASE)
SIGNATURE_TOLERANCE_S = 300
MR_EVENT, NOTE_EVENT = "Merge Request Hook", "Note Hook"


class SignatureError(ValueError):
    """The delivery does not carry our secret token or a valid signature."""


class PayloadError(ValueError):
    """A field the bot needs is missing or malformed (the delivery gets a 400 naming it)."""


_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.+-]{0,254}(/[A-Za-z0-9_.][A-Za-z0-9_.+-]{0,254}){1,20}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
MAX_IID, MAX_ID = 2**31 - 1, 2**63 - 1


def _object(holder: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = holder.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}{key} is missing or not an object")
    return value


def _number(holder: dict[str, Any], key: str, where: str, limit: int = MAX_ID) -> int:
    value = holder.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise PayloadError(f"{where}{key} is missing or not a positive integer")
    return value


def _project(payload: dict[str, Any]) -> tuple[int, str]:
    project = _object(payload, "project")
    path = project.get("path_with_namespace")
    if not isinstance(path, str) or not _PATH.fullmatch(path) or ".." in path.split("/"):
        raise PayloadError("project.path_with_namespace is missing or malformed")
    return _number(project, "id", "project."), path


def verify_token(given: str | None, secret: str) -> None:
    """Check `X-Gitlab-Token` against the configured secret in constant time; raise when it fails."""
    if not given:
        raise SignatureError("missing X-Gitlab-Token")
    if not same_secret(given, secret):
        raise SignatureError("X-Gitlab-Token does not match")


def _key(signing_token: str) -> bytes:
    try:
        return base64.b64decode(signing_token.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("GITLAB_WEBHOOK_SIGNING_TOKEN is not whsec_<base64>") from None


def sign(body: bytes, *, webhook_id: str, timestamp: int, signing_token: str) -> str:
    """Return the `webhook-signature` value GitLab sends (v1, base64 HMAC-SHA256 of id.timestamp.body)."""
    digest = hmac.new(_key(signing_token), f"{webhook_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_signature(body: bytes, *, webhook_id: str | None, timestamp: str | None, signature: str | None,
                     signing_token: str, now: float) -> None:
    """Check `webhook-signature` (any of its space-separated v1 signatures) and a timestamp within 5 minutes."""
    if not (webhook_id and timestamp and signature):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    sent = bounded_int(timestamp, SECONDS_DIGITS)
    if sent is None or abs(now - sent) > SIGNATURE_TOLERANCE_S:
        raise SignatureError("webhook-timestamp is not within 5 minutes")
    expected = sign(body, webhook_id=webhook_id, timestamp=sent, signing_token=signing_token)
    if not any(same_secret(part, expected) for part in signature.split()):
        raise SignatureError("webhook-signature does not match")


@dataclass(frozen=True)
class MergeRequestJob:
    """Review this merge request head (ids only), or on a `/review` note, its current head for that user."""

    project_id: int
    project_path: str
    iid: int
    head_sha: str
    rereview: bool = False  # review the head again even if it was reviewed (a /review note)
    user_id: int | None = None
    note_id: int | None = None


@dataclass(frozen=True)
class CancelMergeRequest:
    """Drop pending work for a merge request (closed or merged)."""

    project_id: int
    iid: int
    project_path: str = ""


@dataclass(frozen=True)
class Ignore:
    """Nothing to do, and why (answered 2xx: GitLab disables hooks after repeated 4xx)."""

    reason: str


Route = MergeRequestJob | CancelMergeRequest | Ignore


def is_draft(attributes: dict[str, Any]) -> bool:
    """Return whether an MR is a draft: the `draft` field, the older `work_in_progress`, or a title prefix."""
    return bool(attributes.get("draft") or attributes.get("work_in_progress")
                or DRAFT_TITLE.match(str(attributes.get("title") or "")))


def _marked_ready(changes: dict[str, Any]) -> bool:
    for key in ("draft", "work_in_progress"):
        change = changes.get(key)
        if isinstance(change, dict) and change.get("previous") and change.get("current") is False:
            return True
    title = changes.get("title")
    title = title if isinstance(title, dict) else {}
    return bool(DRAFT_TITLE.match(str(title.get("previous") or "")) and not DRAFT_TITLE.match(str(title.get("current") or "")))


def _merge_request(payload: dict[str, Any], review_drafts: bool) -> Route:
    attributes = _object(payload, "object_attributes")
    action = attributes.get("action")
    project_id, path = _project(payload)
    iid = _number(attributes, "iid", "object_attributes.", MAX_IID)
    if action in ("close", "merge"):
        return CancelMergeRequest(project_id, iid, path)
    changes = payload.get("changes")
    changes = changes if isinstance(changes, dict) else {}
    wanted = action in ("open", "reopen") or (action == "update" and (attributes.get("oldrev") or _marked_ready(changes)))
    if not wanted:
        return Ignore(f"merge request {str(action)[:40]} needs no review")
    if is_draft(attributes) and not review_drafts:
        return Ignore("draft merge request")
    head = _object(attributes, "last_commit", "object_attributes.").get("id")
    if not isinstance(head, str) or not _SHA.fullmatch(head):
        raise PayloadError("object_attributes.last_commit.id is missing or not a commit SHA")
    return MergeRequestJob(project_id, path, iid, head)


def _note(payload: dict[str, Any], bot_username: str) -> Route:
    attributes = _object(payload, "object_attributes")
    user = payload.get("user")
    user = user if isinstance(user, dict) else {}
    text = attributes.get("note")
    if attributes.get("noteable_type") != "MergeRequest" or attributes.get("system"):
        return Ignore("not a note on a merge request")
    if bot_username and user.get("username") == bot_username:
        return Ignore("the bot's own note")
    if not isinstance(text, str) or text.strip().split("\n", 1)[0].split(" ", 1)[0] != "/review":
        return Ignore("not a /review command")
    project_id, path = _project(payload)
    iid = _number(_object(payload, "merge_request"), "iid", "merge_request.", MAX_IID)
    note_id = _number(attributes, "id", "object_attributes.")
    author = user.get("id", attributes.get("author_id"))
    valid_author = isinstance(author, int) and not isinstance(author, bool) and 0 < author <= MAX_ID
    # The head is read when the job runs; the note id keeps each /review its own job. An author the payload does not
    # name validly is None, which the webhook refuses (no access level).
    return MergeRequestJob(project_id, path, iid, f"note:{note_id}", rereview=True,
                           user_id=author if valid_author else None, note_id=note_id)


def route(event: str, payload: dict[str, Any], *, bot_username: str = "", review_drafts: bool = False) -> Route:
    """Return what a delivery asks of the bot; raise PayloadError when a field it needs is missing or malformed."""
    if event == MR_EVENT and payload.get("object_kind") == "merge_request":
        return _merge_request(payload, review_drafts)
    if event == NOTE_EVENT and payload.get("object_kind") == "note":
        return _note(payload, bot_username)
    return Ignore(f"{event[:40] or 'unnamed'} events are not handled")
