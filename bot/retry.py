"""The one retry policy both network adapters use: bounded in attempts and time, a server's
`Retry-After` (or rate-limit reset) honoured up to a cap, else exponential backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay


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
