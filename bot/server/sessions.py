"""Dashboard sessions: the cookie holds a random id and the time it was made, signed by itsdangerous (its
`TimestampSigner`); the dashboard token never leaves the server. A session lasts SESSION_S.

The signing key is derived from MISTRAL_REVIEW_DASHBOARD_TOKEN, so every gunicorn worker and every machine checks
the same cookies without shared state, and changing the token ends every session.
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, TimestampSigner

COOKIE = "mr_dashboard"
SESSION_S = 8 * 3600
SALT = "mistral-review dashboard session v2"  # v1 cookies (hand-signed) no longer validate: log in again
MAX_COOKIE_CHARS = 256  # a session is about 120 characters; nothing longer is read


class _SessionSigner(TimestampSigner):
    """itsdangerous's timestamped signer, on the server's clock rather than its own."""

    def __init__(self, token: str, *, now: float) -> None:
        # SHA-384's 48 bytes are whole base64 characters: no spare bits, so no second spelling of a signature.
        super().__init__(token, salt=SALT, digest_method=hashlib.sha384)
        self._now = int(now)

    def get_timestamp(self) -> int:
        """Return the time `now` the signer was made with."""
        return self._now


def new_session(token: str, *, now: float) -> str:
    """Return a fresh cookie value: a random id and the time `now`, signed with a key derived from `token`."""
    return _SessionSigner(token, now=now).sign(secrets.token_urlsafe(24)).decode("ascii")


def valid_session(value: str, token: str, *, now: float) -> bool:
    """Return whether a cookie value was signed for `token` and its SESSION_S have not run out at `now`."""
    if len(value) > MAX_COOKIE_CHARS or not value.isascii():  # a cookie may hold anything; ours is short ASCII
        return False
    try:
        # Not `max_age`: itsdangerous refuses a session signed "in the future", which a second machine whose
        # clock runs a little behind the one that signed it would see; only the expiry is checked, as before.
        _, signed_at = _SessionSigner(token, now=now).unsign(value, return_timestamp=True)
        return signed_at.timestamp() + SESSION_S > now
    except BadSignature:  # forged, or not ours
        return False
    except (ValueError, OverflowError, OSError):  # a signed time past the year 9999 has no date
        return False
