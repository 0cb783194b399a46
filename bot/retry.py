"""The one retry policy every network adapter uses (GitHub, GitLab, the model): bounded in attempts and time,
a server's `Retry-After` (seconds or an HTTP date) or rate-limit reset honoured up to a cap, else exponential
backoff with full jitter. bot/core/wait_hints.py reads those headers.

The libraries' own retries stay off, so only this layer retries: PyGithub's `GithubRetry` (a urllib3 `Retry`)
repeats POSTs after a 5xx, so a review whose answer was lost is posted twice, and python-gitlab's
`retry_transient_errors` repeats every verb and fails on an HTTP-date `Retry-After` (it reads the header with
`int()`); neither caps a server's wait, bounds the total time, jitters, or lets a test replace `time.sleep`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failing call."""

    attempts: int = 5
    max_wait_s: float = 30.0
    total_s: float = 180.0
    base_wait_s: float = 1.0


def wait_seconds(hinted: float | None, attempt: int, policy: RetryPolicy) -> float:
    """Return how long to wait before retry `attempt` (1-based): the server's hint, else jittered backoff."""
    if hinted is not None:
        return min(max(0.0, hinted), policy.max_wait_s)
    return min(policy.max_wait_s, random.uniform(0, policy.base_wait_s * 2 ** (attempt - 1)))


def retrying(policy: RetryPolicy, *, retryable: Callable[[BaseException], bool],
             hint: Callable[[BaseException | None], float | None], sleep: Callable[[float], None]) -> Retrying:
    """Return a tenacity retrier for this policy; the last error is re-raised when it gives up."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return wait_seconds(hint(exc), state.attempt_number, policy)

    return Retrying(retry=retry_if_exception(retryable),
                    stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_s),
                    wait=wait, sleep=sleep, reraise=True)


def checking_first(fn: Callable[[], T], landed: Callable[[], T | None] | None) -> Callable[[], T]:
    """Return `fn` made safe to retry when it creates something: from the second try on, `landed` first looks
    for what an earlier try made (the host may have acted on a request whose answer was lost)."""
    tries = 0

    def attempt() -> T:
        nonlocal tries
        tries += 1
        if tries > 1 and landed is not None:
            found = landed()
            if found is not None:
                return found
        return fn()

    return attempt
