"""`POST /webhook/gitlab`: a GitLab delivery checked (token or signature), routed, a `/review` note's author's
access checked, and only then recorded as a job.

Ignored and refused deliveries get a 200 (GitLab disables a hook after repeated 4xx). Accepted work goes to
`submit`, which de-duplicates by the delivery's Idempotency-Key (the same across GitLab's retries), then by head.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, Response, jsonify, request

from bot.hosts.gitlab.client import GitLabClient
from bot.hosts.gitlab.events import (
    CancelMergeRequest,
    Ignore,
    MergeRequestJob,
    PayloadError,
    SignatureError,
    route,
    verify_signature,
    verify_token,
)
from bot.hosts.gitlab.merge_request import MergeRequestHandle
from bot.server.body import Answer, json_object, limited_body
from bot.server.intake import Intake, refusal
from bot.server.ledger import NewJob
from bot.server.logs import clean_delivery, delivery_id
from bot.server.settings import GitLabHookSettings, ServerSettings

log = logging.getLogger("mistral_review.server")
Submit = Callable[[str, str, MergeRequestJob | CancelMergeRequest], dict[str, Any]]
Refusal = Callable[[MergeRequestJob], str | None]  # why a /review note's author may not ask; None when they may
Observe = Callable[[str, int], None]
LABELS = {"Merge Request Hook": "gitlab_merge_request", "Note Hook": "gitlab_note"}


def submitter(intake: Intake) -> Submit:
    """Return the `submit` that records a merge request's job, or drops its queued jobs when it closed or merged."""

    def submit(delivery: str, event: str, decision: MergeRequestJob | CancelMergeRequest) -> dict[str, Any]:
        if isinstance(decision, CancelMergeRequest):
            return intake.cancel_pull(decision.project_path, decision.iid, host="gitlab")
        return intake.record(NewJob(delivery, event, decision.project_path, decision.iid, decision.head_sha, None,
                                    decision.rereview, str(decision.user_id or ""), decision.note_id, host="gitlab",
                                    project_id=decision.project_id))

    return submit


def member_check(client: Callable[[], GitLabClient]) -> Refusal:
    """Return the access check of a `/review` note's author: their level on the project (members/all/:id)."""

    def check(job: MergeRequestJob) -> str | None:
        return MergeRequestHandle(client(), job.project_id, job.iid).review_refusal(job.user_id)

    return check


def _authenticate(settings: GitLabHookSettings, raw: bytes, now: float) -> None:
    """Prefer the signature when a signing token is configured; else the secret token."""
    headers = request.headers
    if settings.signing_token:
        verify_signature(raw, webhook_id=headers.get("webhook-id"), timestamp=headers.get("webhook-timestamp"),
                         signature=headers.get("webhook-signature"), signing_token=settings.signing_token, now=now)
    else:
        verify_token(headers.get("X-Gitlab-Token"), settings.secret)


def _delivery() -> str:
    headers = request.headers
    return clean_delivery(headers.get("Idempotency-Key") or headers.get("webhook-id")
                          or headers.get("X-Gitlab-Event-UUID")) or f"gitlab-{time.time_ns()}"


def _handle(settings: GitLabHookSettings, submit: Submit, may_not: Refusal, now: float, max_body: int,
            review_drafts: bool) -> Answer:
    """Answer one delivery: (status, JSON body); never raises for bad input."""
    raw = limited_body(max_body)
    if isinstance(raw, tuple):
        return raw
    try:
        _authenticate(settings, raw, now)
    except SignatureError as exc:
        return 401, {"error": str(exc)}
    payload = json_object(raw)
    if isinstance(payload, tuple):
        return payload
    event = request.headers.get("X-Gitlab-Event", "")
    try:
        decision = route(event, payload, bot_username=settings.bot_username, review_drafts=review_drafts)
    except PayloadError as exc:
        return 400, {"error": f"malformed {event[:40]} payload: {exc}"}
    if isinstance(decision, Ignore):
        return 200, {"status": "ignored", "reason": decision.reason}
    if isinstance(decision, MergeRequestJob) and decision.note_id is not None:  # a /review, checked before any record
        refused = refusal(partial(may_not, decision), host="GitLab", status=200, who=f"GitLab user {decision.user_id}")
        if refused is not None:
            return refused
    return 202, submit(delivery_id.get(), event, decision)


def register_gitlab_webhook(app: Flask, settings: GitLabHookSettings, submit: Submit, may_not: Refusal, *,
                            clock: Callable[[], float] = time.time, observe: Observe | None = None,
                            max_body: int = ServerSettings.max_body_bytes, review_drafts: bool = False) -> None:
    """Add `POST /webhook/gitlab` to an app; `observe(label, status)` counts deliveries for metrics."""

    @app.post("/webhook/gitlab")
    def gitlab_webhook() -> tuple[Response, int]:
        event = request.headers.get("X-Gitlab-Event", "")
        delivery_id.set(_delivery())
        status, body = _handle(settings, submit, may_not, clock(), max_body, review_drafts)
        if observe is not None:
            observe(LABELS.get(event, "gitlab_other"), status)
        log.info("gitlab webhook %s -> %d %s", event[:40] or "-", status, body.get("status") or body.get("error", ""))
        return jsonify(body), status
