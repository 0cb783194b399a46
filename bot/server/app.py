"""The webhook server: a Flask app factory and nothing else that imports Flask.

POST /webhook answers fast (GitHub gives up after 10 s): verify the signature, record the
delivery and the job in one small ledger transaction, enqueue the job id, return 202.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from bot.hosts.github.client import web_url
from bot.hosts.github.events import (
    CancelInstallation,
    CancelPull,
    Ignore,
    PayloadError,
    ReviewJob,
    SignatureError,
    route,
    same_secret,
    verify_signature,
)
from bot.hosts.gitlab.events import CancelMergeRequest, MergeRequestJob
from bot.server.body import json_object, limited_body
from bot.server.clients import Clients
from bot.server.dashboard import render_dashboard
from bot.server.gitlab_hook import register_gitlab_webhook
from bot.server.ledger import Ledger, NewJob
from bot.server.logs import clean_delivery, delivery_id
from bot.server.metrics import Metrics
from bot.server.sessions import COOKIE, SESSION_S, new_session, valid_session
from bot.server.settings import ServerSettings
from bot.server.stats import dashboard_data

log = logging.getLogger("mistral_review.server")
# Metrics label events by name only for these: the header is anyone's to write, labels must stay few.
LABELLED_EVENTS = frozenset({"ping", "pull_request", "issue_comment", "installation"})


class Queue(Protocol):
    """What the app needs of the job queue."""

    def enqueue(self, job_id: str) -> None: ...
    def ping(self) -> None: ...


def _answer(code: int, **body: Any) -> tuple[Response, int]:
    return jsonify(body), code


class WebhookHandler:
    """What POST /webhook does: size, signature, JSON, routing, then the ledger and the queue."""

    def __init__(self, settings: ServerSettings, ledger: Ledger, queue: Queue, clock: Callable[[], float],
                 github: Clients) -> None:
        self.settings, self.ledger, self.queue, self.clock, self.github = settings, ledger, queue, clock, github

    def handle(self, event: str) -> tuple[int, dict[str, Any]]:
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
            dropped = self.ledger.cancel_pr(decision.repo, decision.pr_number, now=self.clock())
            return 202, {"status": "cancelled", "jobs": dropped}
        if isinstance(decision, CancelInstallation):
            dropped = self.ledger.cancel_installation(decision.installation_id, now=self.clock())
            return 202, {"status": "cancelled", "jobs": dropped}
        return self._accept(event, decision)

    def _accept(self, event: str, job: ReviewJob) -> tuple[int, dict[str, Any]]:
        if job.comment_id is not None:  # a /review: only people with write access, checked before anything is recorded
            refused = self._refuse_commenter(job)
            if refused is not None:
                return refused
        delivery = delivery_id.get() or f"no-delivery-{time.time_ns()}"
        return 202, self._record(NewJob(delivery, event, job.repo, job.pr_number, job.head_sha, job.installation_id,
                                        job.rereview, job.commenter or "", job.comment_id))

    def _record(self, new: NewJob) -> dict[str, Any]:
        """Record the delivery and its job unless either is a duplicate, then enqueue it."""
        result = self.ledger.accept(new, now=self.clock())
        if result.job_id is None or result.duplicate:
            return {"status": "duplicate", "of": result.duplicate or "delivery", "job": result.job_id}
        try:
            self.queue.enqueue(result.job_id)
        except Exception:  # the reaper re-enqueues jobs whose enqueue was lost
            log.exception("enqueue failed; the reaper will pick the job up")
        return {"status": "queued", "job": result.job_id}

    def _refuse_commenter(self, job: ReviewJob) -> tuple[int, dict[str, Any]] | None:
        try:
            allowed = self.github.may_request_review(job.repo, job.pr_number, job.commenter or "", job.installation_id)
        except Exception as exc:  # noqa: BLE001 - unverifiable is refused (fail closed), never a 5xx
            log.warning("could not check %s's permission: %s", job.commenter, exc)
            return 202, {"status": "ignored", "reason": "could not check the commenter's permission on GitHub; "
                                                         "/review ignored (comment again)"}
        if allowed:
            return None
        return 202, {"status": "ignored", "reason": f"{job.commenter} has no write access; /review ignored"}

    def submit_gitlab(self, delivery: str, event: str, decision: MergeRequestJob | CancelMergeRequest) -> dict[str, Any]:
        """Record and queue a GitLab merge request's job (or drop its queued jobs when it closed or merged).

        A `/review` note's author is checked by the worker (GitLab's member API), so acknowledging costs no call.
        """
        if isinstance(decision, CancelMergeRequest):
            return {"status": "cancelled", "jobs": self.ledger.cancel_pr(decision.project_path, decision.iid,
                                                                         host="gitlab", now=self.clock())}
        new = NewJob(delivery, event, decision.project_path, decision.iid, decision.head_sha, None, decision.rereview,
                     str(decision.user_id or ""), decision.note_id, host="gitlab", project_id=decision.project_id)
        return self._record(new)


def create_app(settings: ServerSettings, *, ledger: Ledger, queue: Queue, metrics: Metrics,
               clock: Callable[[], float] = time.time, clients: Clients | None = None) -> Flask:
    """Build the app over a ledger, a queue and metrics (tests pass their own)."""
    hooks = WebhookHandler(settings, ledger, queue, clock, clients or Clients(settings))
    app = Flask("mistral_review")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1  # one more, so reading can tell "exactly" from "over"
    if settings.insecure_no_signature and not settings.webhook_secret:
        log.warning("INSECURE: webhook signatures are NOT checked (--insecure-no-signature); development only")

    if settings.github or settings.gitlab is None:  # a GitLab-only server has no unsigned GitHub route
        app.add_url_rule("/webhook", "webhook", lambda: _github_webhook(hooks, metrics), methods=["POST"])
    if settings.gitlab is not None:
        register_gitlab_webhook(app, settings.gitlab, hooks.submit_gitlab, clock,
                                lambda label, status: metrics.webhook(label, str(status)), settings.max_body_bytes,
                                review_drafts=settings.review_drafts)

    @app.errorhandler(500)
    def crashed(_: Exception) -> tuple[Response, int]:
        return _answer(500, error="internal error (see the server log)")

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        problems = {}
        for name, check in (("database", ledger.ping), ("queue", queue.ping)):
            try:
                check()
            except Exception as exc:  # any failure is what /healthz reports
                problems[name] = type(exc).__name__
        return _answer(503 if problems else 200, status="unhealthy" if problems else "ok", **problems)

    @app.get("/dashboard")
    def dashboard() -> ResponseReturnValue:
        if not settings.dashboard_token:
            return _answer(404, error="the dashboard is off: set MISTRAL_REVIEW_DASHBOARD_TOKEN to turn it on")
        token = request.args.get("token")
        if token is not None and same_secret(token, settings.dashboard_token):
            # Trade the token in the address for a session cookie, so it leaves the address bar and history.
            answer = redirect("/dashboard", code=303)
            answer.set_cookie(COOKIE, new_session(token, now=clock()), httponly=True, samesite="Strict",
                              secure=not settings.dev, max_age=SESSION_S)
            return answer
        if not _authorised(settings.dashboard_token, now=clock()):
            answer = Response("credentials required", 401, {"WWW-Authenticate": 'Basic realm="mistral-review"'})
            return answer
        data = dashboard_data(ledger, clock(), github_web=web_url(settings.github_api_url))
        return Response(render_dashboard(data), mimetype="text/html")

    @app.get("/metrics")
    def metrics_endpoint() -> Response | tuple[Response, int]:
        if settings.dashboard_token and not _authorised(settings.dashboard_token, now=clock()):
            return _answer(401, error="credentials required")
        text, content_type = metrics.render()
        return Response(text, mimetype=content_type.split(";")[0])

    return app


def _github_webhook(hooks: WebhookHandler, metrics: Metrics) -> tuple[Response, int]:
    """POST /webhook: one GitHub delivery."""
    event = request.headers.get("X-GitHub-Event", "")
    delivery_id.set(clean_delivery(request.headers.get("X-GitHub-Delivery")))
    status, body = hooks.handle(event)
    metrics.webhook(event if event in LABELLED_EVENTS else "other", str(status))
    log.info("webhook %s -> %d %s", event[:40] or "-", status, body.get("status") or body.get("error", ""))
    return _answer(status, **body)


def _authorised(token: str, *, now: float) -> bool:
    """Accept `Authorization: Bearer <token>`, a dashboard session cookie, or basic auth whose password is the token."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return same_secret(header[7:].strip(), token)
    cookie = request.cookies.get(COOKIE)
    if cookie and valid_session(cookie, token, now=now):
        return True
    password = _basic_password(header)
    return bool(password and same_secret(password, token))


def _basic_password(header: str) -> str | None:
    """Return the password of basic auth; None for anything else (Werkzeug's parser raises on non-ASCII)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True).decode("utf-8")
    except ValueError:  # not ASCII, not base64, not UTF-8 underneath
        return None
    return decoded.partition(":")[2]
