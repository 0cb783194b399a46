"""GitHub's errors as ours: which refusals are worth a retry, how long GitHub asks us to wait, and what it said."""

from __future__ import annotations

import time

import requests
from github import GithubException

from bot.core.errors import ReviewError
from bot.core.numbers import SECONDS_DIGITS, bounded_int


class GitHubError(ReviewError):
    """GitHub refused or failed a request; carries GitHub's status and message."""

    def __init__(self, message: str, *, status: int | None = None, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or []

    @property
    def bad_anchor(self) -> bool:
        """Return whether a review was refused because a comment's line or path is not in the diff."""
        hints = ("could not be resolved", "must be part of the diff", "pull_request_review_thread")
        return self.status == 422 and any(h in e.lower() for e in self.errors for h in hints)


def error_messages(exc: GithubException) -> list[str]:
    """Return GitHub's message and its listed errors."""
    data = exc.data if isinstance(exc.data, dict) else {}
    found = [str(data.get("message", ""))]
    for item in data.get("errors") or []:
        found.append(item if isinstance(item, str) else str(item.get("message") or item))
    return [m for m in found if m]


def rate_limited(exc: GithubException) -> bool:
    """Return whether GitHub refused for a rate limit (primary or secondary)."""
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    text = " ".join(error_messages(exc)).lower()
    return exc.status == 429 or (exc.status == 403 and (
        "rate limit" in text or "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"))


def retryable(exc: BaseException) -> bool:
    """Return whether a failure is worth another try: a 5xx, a rate limit, or the network."""
    if isinstance(exc, GithubException):
        return exc.status >= 500 or rate_limited(exc)
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def retry_hint(exc: BaseException | None) -> float | None:
    """Return GitHub's own word on how long to wait: Retry-After, or the rate limit's reset time."""
    if not isinstance(exc, GithubException):
        return None
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    retry_after = bounded_int(headers.get("retry-after"), SECONDS_DIGITS)
    if retry_after is not None:
        return float(retry_after)
    reset = bounded_int(headers.get("x-ratelimit-reset"), SECONDS_DIGITS)
    return reset - time.time() if headers.get("x-ratelimit-remaining") == "0" and reset is not None else None
