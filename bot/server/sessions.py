"""Dashboard sessions: the cookie holds a random id and an expiry, signed; the dashboard token never leaves the server.

The signing key is derived from MISTRAL_REVIEW_DASHBOARD_TOKEN, so every gunicorn worker and every machine checks
the same cookies without shared state, and changing the token ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from bot.core.numbers import SECONDS_DIGITS, bounded_int

COOKIE = "mr_dashboard"
SESSION_S = 8 * 3600


def _sign(token: str, body: str) -> str:
    key = hmac.new(token.encode(), b"mistral-review dashboard session v1", hashlib.sha256).digest()
    return hmac.new(key, body.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def new_session(token: str, *, now: float) -> str:
    """Return a fresh cookie value: a random id and its expiry, signed with a key derived from `token`."""
    body = f"{secrets.token_urlsafe(24)}.{int(now) + SESSION_S}"
    return f"{body}.{_sign(token, body)}"


def valid_session(value: str, token: str, *, now: float) -> bool:
    """Return whether a cookie value was signed for `token` and has not expired."""
    body, _, signature = value.rpartition(".")
    expires = bounded_int(body.rpartition(".")[2], SECONDS_DIGITS)
    if expires is None or expires <= now:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII text, and a cookie may hold anything.
    return hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), _sign(token, body).encode())
