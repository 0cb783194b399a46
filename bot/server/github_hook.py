"""`POST /webhook`: a GitHub delivery checked (size, signature, JSON), routed, a `/review` commenter's write access
checked, and only then recorded as a job.

It answers fast (GitHub gives up after 10 s): the ledger's one small transaction, an enqueue, 202.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, request

from bot.hosts.github.events import (
    CancelInstallation,
    CancelPull,
    Ignore,
    PayloadError,
    ReviewJob,
    SignatureError,
    route,
    verify_signature,
)
from bot.server.body import Answer, json_object, limited_body
from bot.server.clients import Clients
from bot.server.intake import Intake, refusal
from bot.server.ledger import NewJob
from bot.server.logs import clean_delivery, delivery_id
from bot.server.metrics import Metrics
from bot.server.settings import ServerSettings

log = logging.getLogger("mistral_review.server")
# Metrics label events by name only for these: the header is anyone's to write, labels must stay few.
LABELLED_EVENTS = frozenset({"ping", "pull_request", "issue_comment", "installation"})


class GitHubHook:
    """What POST /webhook does: size, signature, JSON, routing, the commenter's access, then the intake."""

    def __init__(self, settings: ServerSettings, intake: Intake, clients: Clients) -> None:
        self.settings, self.intake, self.clients = settings, intake, clients

    def handle(self, event: str) -> Answer:
        """Answer one delivery of the current request: (status, JSON body); never raises for bad input."""
        raw = limited_body(self.settings.max_body_bytes)
        if isinstance(raw, tuple):
            return raw
        if self.settings.webhook_secret:
            try:
                verify_signature(raw, signature=request.headers.get("X-Hub-Signature-256"),
                                 secret=self.settings.webhook_secret)
            except SignatureError as exc:
                return 401, {"error": str(exc)}
        payload = json_object(raw)
        if isinstance(payload, tuple):
            return payload
        if event == "ping":
            return 200, {"status": "pong"}
        try:
            decision = route(event, payload, review_drafts=self.settings.review_drafts)
        except PayloadError as exc:
            return 400, {"error": f"malformed {event} payload: {exc}"}
        if isinstance(decision, Ignore):
            return 202, {"status": "ignored", "reason": decision.reason}
        if isinstance(decision, CancelPull):
            return 202, self.intake.cancel_pull(decision.repo, decision.pr_number)
        if isinstance(decision, CancelInstallation):
            return 202, self.intake.cancel_installation(decision.installation_id)
        return self._accept(event, decision)

    def _accept(self, event: str, job: ReviewJob) -> Answer:
        if job.comment_id is not None:  # a /review: only people with write access, checked before anything is recorded
            refused = self._refuse_commenter(job)
            if refused is not None:
                return refused
        delivery = delivery_id.get() or f"no-delivery-{time.time_ns()}"
        return 202, self.intake.record(NewJob(delivery, event, job.repo, job.pr_number, job.head_sha,
                                              job.installation_id, job.rereview, job.commenter or "", job.comment_id))

    def _refuse_commenter(self, job: ReviewJob) -> Answer | None:
        def check() -> str | None:
            allowed = self.clients.may_request_review(job.repo, job.pr_number, job.commenter or "",
                                                      job.installation_id)
            return None if allowed else f"{job.commenter} has no write access; /review ignored"

        return refusal(check, host="GitHub", status=202, who=job.commenter or "")

def register_github_webhook(app: Flask, hook: GitHubHook, metrics: Metrics) -> None:
    """Add `POST /webhook` to an app; each delivery is counted by event and status."""

    @app.post("/webhook")
    def webhook() -> tuple[Response, int]:
        event = request.headers.get("X-GitHub-Event", "")
        delivery_id.set(clean_delivery(request.headers.get("X-GitHub-Delivery")))
        status, body = hook.handle(event)
        metrics.webhook(event if event in LABELLED_EVENTS else "other", str(status))
        log.info("webhook %s -> %d %s", event[:40] or "-", status, body.get("status") or body.get("error", ""))
        return jsonify(body), status
