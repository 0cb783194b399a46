"""`GET /dashboard` and `GET /metrics`, and the credentials they take (a bearer token, a session cookie, or basic
auth whose password is the dashboard token)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from flask import Flask, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from bot.core.constant_time import same_secret
from bot.hosts.github.urls import web_url
from bot.server.dashboard import render_dashboard
from bot.server.ledger import Ledger
from bot.server.metrics import Metrics
from bot.server.sessions import COOKIE, SESSION_S, new_session, valid_session
from bot.server.settings import ServerSettings
from bot.server.stats import dashboard_data


def register_dashboard(app: Flask, settings: ServerSettings, ledger: Ledger, metrics: Metrics,
                       clock: Callable[[], float]) -> None:
    """Add the dashboard (off without MISTRAL_REVIEW_DASHBOARD_TOKEN) and the metrics endpoint to an app."""

    @app.get("/dashboard")
    def dashboard() -> ResponseReturnValue:
        if not settings.dashboard_token:
            return jsonify(error="the dashboard is off: set MISTRAL_REVIEW_DASHBOARD_TOKEN to turn it on"), 404
        token = request.args.get("token")
        if token is not None and same_secret(token, settings.dashboard_token):
            # Trade the token in the address for a session cookie, so it leaves the address bar and history.
            answer = redirect("/dashboard", code=303)
            answer.set_cookie(COOKIE, new_session(token, now=clock()), httponly=True, samesite="Strict",
                              secure=not settings.dev, max_age=SESSION_S)
            return answer
        if not _authorised(settings.dashboard_token, now=clock()):
            return Response("credentials required", 401, {"WWW-Authenticate": 'Basic realm="mistral-review"'})
        data = dashboard_data(ledger, clock(), github_web=web_url(settings.github_api_url))
        return Response(render_dashboard(data), mimetype="text/html")

    @app.get("/metrics")
    def metrics_endpoint() -> Response | tuple[Response, int]:
        if settings.dashboard_token and not _authorised(settings.dashboard_token, now=clock()):
            return jsonify(error="credentials required"), 401
        text, content_type = metrics.render()
        return Response(text, mimetype=content_type.split(";")[0])


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
