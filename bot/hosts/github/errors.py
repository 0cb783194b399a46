"""GitHub's errors as ours: which refusals are worth a retry, how long GitHub asks us to wait, and what it said."""

from __future__ import annotations

import time

import requests
from github import GithubException

from bot.core.errors import ReviewError
from bot.core.wait_hints import wait_hint


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


def retry_hint(exc: BaseException | None, now: float | None = None) -> float | None:
    """Return GitHub's own word on how long to wait: Retry-After, or the primary rate limit's reset time.

    `now` is the wall clock in epoch seconds (the time now when left out); GitHub's reset time counts only
    once the limit is spent, since every answer carries one.
    """
    if not isinstance(exc, GithubException):
        return None
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    spent = headers.get("x-ratelimit-remaining") == "0"
    return wait_hint(headers, now=time.time() if now is None else now,
                     reset_header="x-ratelimit-reset" if spent else None)
