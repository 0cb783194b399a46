"""Whole numbers read from text anyone can write (headers, cookies, ids): bounded before they are parsed. Pure.

`str.isdigit()` is not enough: it accepts `²` and other digits `int()` refuses, and `int()` refuses (ValueError)
a run of more than 4,300 digits. Only ASCII digits, and only as many as the field can need, are read.
"""

from __future__ import annotations

SECONDS_DIGITS = 12  # epoch seconds and wait times: 12 digits is past the year 30,000
ID_DIGITS = 19  # a host's 64-bit ids


def bounded_int(text: str | None, max_digits: int) -> int | None:
    """Return the whole number `text` spells in 1 to `max_digits` ASCII digits; None for anything else."""
    if text is None or not 0 < len(text) <= max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
