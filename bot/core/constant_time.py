"""Comparing credentials in constant time, for every host's webhook and the dashboard. Pure."""

from __future__ import annotations

import hmac


def same_secret(given: str, expected: str) -> bool:
    """Compare a credential in constant time, as bytes (any text, even non-ASCII or a lone surrogate, is a mismatch)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))
