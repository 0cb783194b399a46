"""How long a server asks us to wait before trying again, read from its headers. Pure: the time is an argument.

The one place that reads `Retry-After` (whole or decimal seconds, or an HTTP date, RFC 9110 section 10.2.3) and
a host's rate-limit reset time in epoch seconds (GitHub's `x-ratelimit-reset`, GitLab's `RateLimit-Reset`).
Every answer is None or a number of seconds from 0 to MAX_HINT_S; no header value makes it raise.
"""

from __future__ import annotations

import re
from calendar import timegm
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from bot.core.numbers import SECONDS_DIGITS, bounded_int

MAX_HINT_S = 86_400.0  # a day: no host asks for more, and the retry policy caps the wait far lower anyway
MAX_HEADER_CHARS = 64  # an HTTP date is 29 characters; anything much longer is not a wait
SECONDS = re.compile(rf"[0-9]{{1,{SECONDS_DIGITS}}}(?:\.[0-9]{{1,6}})?")  # OpenAI-compatible servers may send decimals


def _bounded(seconds: float) -> float:
    return min(max(0.0, seconds), MAX_HINT_S)


def retry_after_s(value: str | None, *, now: float) -> float | None:
    """Return the wait a `Retry-After` value asks for at `now` (epoch seconds); a past date is 0, garbage None."""
    if value is None or len(value) > MAX_HEADER_CHARS:
        return None
    text = value.strip()
    if SECONDS.fullmatch(text):
        return _bounded(float(text))
    try:
        # In UTC whether or not the date names its zone (`-0000` gives no zone: UTC, RFC 5322 section 3.3).
        return _bounded(timegm(parsedate_to_datetime(text).utctimetuple()) - now)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def reset_in_s(value: str | None, *, now: float) -> float | None:
    """Return the wait until a rate limit resets, given as epoch seconds at `now`; a past reset is 0, garbage None."""
    at = bounded_int(value, SECONDS_DIGITS)
    return None if at is None else _bounded(at - now)


def wait_hint(headers: Mapping[str, str], *, now: float, reset_header: str | None = None) -> float | None:
    """Return how long a refusal's headers ask us to wait: `Retry-After`, else the reset time in `reset_header`."""
    lowered = {name.lower(): text for name, text in headers.items()}
    found = retry_after_s(lowered.get("retry-after"), now=now)
    if found is None and reset_header is not None:
        found = reset_in_s(lowered.get(reset_header.lower()), now=now)
    return found
