"""`POST /webhook/gitlab`: GitLab deliveries checked (token or signature), de-duplicated and routed.

Ignored events get a 2xx (GitLab disables a hook after repeated 4xx). Accepted work goes to `submit`, which
de-duplicates by the delivery's Idempotency-Key (the same across GitLab's retries) and then by head.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request

from bot.hosts.gitlab.events import CancelMergeRequest, Ignore, MergeRequestJob, SignatureError, route, verify_signature, verify_token

log = logging.getLogger(__name__)
Submit = Callable[[str, MergeRequestJob | CancelMergeRequest], dict[str, Any]]


@dataclass(frozen=True)
class GitLabHookSettings:
    """The GitLab webhook's secrets and options."""

    secret: str
    signing_token: str = ""
    bot_username: str = ""
    review_drafts: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitLabHookSettings | None:
        """Read GITLAB_WEBHOOK_SECRET (required for the route) and GITLAB_WEBHOOK_SIGNING_TOKEN."""
        secret, signing = env.get("GITLAB_WEBHOOK_SECRET", ""), env.get("GITLAB_WEBHOOK_SIGNING_TOKEN", "")
        if not (secret or signing):
            return None
        return cls(secret, signing, env.get("MISTRAL_REVIEW_GITLAB_BOT_USERNAME", ""),
                   env.get("MISTRAL_REVIEW_REVIEW_DRAFTS", "").lower() in ("1", "true", "yes"))


def _authenticate(settings: GitLabHookSettings, raw: bytes, now: float) -> None:
    """Prefer the signature when a signing token is configured; else the secret token."""
    headers = request.headers
    if settings.signing_token:
        verify_signature(raw, webhook_id=headers.get("webhook-id"), timestamp=headers.get("webhook-timestamp"),
                         signature=headers.get("webhook-signature"), signing_token=settings.signing_token, now=now)
    else:
        verify_token(headers.get("X-Gitlab-Token"), settings.secret)


def register_gitlab_webhook(app: Flask, settings: GitLabHookSettings, submit: Submit,
                            clock: Callable[[], float] = time.time) -> None:
    """Add `POST /webhook/gitlab` to an app."""

    @app.post("/webhook/gitlab")
    def gitlab_webhook() -> tuple[Response, int]:
        raw = request.get_data(cache=False)
        try:
            _authenticate(settings, raw, clock())
        except SignatureError as exc:
            return jsonify(error=str(exc)), 401
        try:
            payload = json.loads(raw)
        except ValueError:
            return jsonify(error="body is not JSON"), 400
        if not isinstance(payload, dict):
            return jsonify(error="body is not a JSON object"), 400
        event = request.headers.get("X-Gitlab-Event", "")
        decision = route(event, payload, bot_username=settings.bot_username, review_drafts=settings.review_drafts)
        if isinstance(decision, Ignore):
            return jsonify(status="ignored", reason=decision.reason), 200
        delivery = (request.headers.get("Idempotency-Key") or request.headers.get("webhook-id")
                    or request.headers.get("X-Gitlab-Event-UUID") or f"gitlab-{time.time_ns()}")
        answer = submit(delivery, decision)
        log.info("gitlab webhook %s -> %s", event, answer.get("status"))
        return jsonify(answer), 202
