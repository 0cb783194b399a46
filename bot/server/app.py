"""The webhook server: a Flask app factory that wires each host's webhook route, the dashboard and metrics,
and answers `/healthz`. Each route lives in its own module (github_hook, gitlab_hook, dashboard_routes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask, Response, jsonify

from bot.server.clients import Clients
from bot.server.dashboard_routes import register_dashboard
from bot.server.github_hook import GitHubHook, register_github_webhook
from bot.server.gitlab_hook import member_check, register_gitlab_webhook, submitter
from bot.server.intake import Intake, Queue
from bot.server.ledger import Ledger
from bot.server.metrics import Metrics
from bot.server.settings import ServerSettings

log = logging.getLogger("mistral_review.server")


def create_app(settings: ServerSettings, *, ledger: Ledger, queue: Queue, metrics: Metrics,
               clock: Callable[[], float] = time.time, clients: Clients | None = None) -> Flask:
    """Build the app over a ledger, a queue and metrics (tests pass their own)."""
    intake, clients = Intake(ledger, queue, clock), clients or Clients(settings)
    app = Flask("mistral_review")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1  # one more, so reading can tell "exactly" from "over"
    if settings.insecure_no_signature and not settings.webhook_secret:
        log.warning("INSECURE: webhook signatures are NOT checked (--insecure-no-signature); development only")

    if settings.github or settings.gitlab is None:  # a GitLab-only server has no unsigned GitHub route
        register_github_webhook(app, GitHubHook(settings, intake, clients), metrics)
    if settings.gitlab is not None:
        register_gitlab_webhook(app, settings.gitlab, submitter(intake), member_check(clients.gitlab), clock=clock,
                                observe=lambda label, status: metrics.webhook(label, str(status)),
                                max_body=settings.max_body_bytes, review_drafts=settings.review_drafts)
    register_dashboard(app, settings, ledger, metrics, clock)

    @app.errorhandler(500)
    def crashed(_: Exception) -> tuple[Response, int]:
        return jsonify(error="internal error (see the server log)"), 500

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        problems = {}
        for name, check in (("database", ledger.ping), ("queue", queue.ping)):
            try:
                check()
            except Exception as exc:  # any failure is what /healthz reports
                problems[name] = type(exc).__name__
        return jsonify(status="unhealthy" if problems else "ok", **problems), 503 if problems else 200

    return app
