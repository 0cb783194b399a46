"""Read the JSON object out of a model's reply text, within bounds. Pure.

Any string gives the reply's `comments` list or a reason why there is none: the size and the nesting depth
are bounded before json reads it, and integers too long to be line numbers are read as null.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A reply is read only within these bounds; past them it is dropped with a reason, never parsed:
MAX_REPLY_CHARS = 1_000_000  # 64,000 output tokens (the highest output_tokens setting) at ~15 characters each
MAX_DEPTH = 32  # a comment's fields sit at depth 3; 100,000 nested brackets made json raise RecursionError

_FENCE = re.compile(r"```[\w-]*[ \t]*\n(.*?)```", re.S)
# A JSON string (its end may be missing) or a bracket; possessive, so a run of unclosed strings stays linear.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.?)*+(?:"|\Z)|[\[\]{}]', re.S)


def _too_deep(text: str) -> bool:
    """Return whether the JSON value that starts the text nests deeper than MAX_DEPTH (brackets in strings skipped)."""
    depth = 0
    for token in _TOKEN.finditer(text):
        mark = token.group()[0]
        if mark == '"':
            continue
        depth += 1 if mark in "[{" else -1
        if depth > MAX_DEPTH:
            return True
        if depth <= 0:
            return False
    return False


def _bounded_int(digits: str) -> int | None:
    """Read a JSON integer; one too long to be a line number is null (int() refuses past 4,300 digits)."""
    return int(digits) if len(digits) <= 18 else None


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


def read_reply(content: str | None) -> list[Any] | str:
    """Return the `comments` list of a reply (bare JSON, fenced in Markdown, or after some prose), or why there is none.

    Servers asked for `json_object` or for no format at all may wrap the object in a fence or a sentence.
    Any string gives a list or a reason: the size and the nesting are bounded before json reads it.
    """
    if content is not None and len(content) > MAX_REPLY_CHARS:
        return f"reply of {len(content):,} characters is over the {MAX_REPLY_CHARS:,} read"
    text = (content or "").strip()
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    if "{" in text:
        candidates.append(text[text.index("{"):])
    deep = False
    for candidate in (c.strip() for c in candidates):
        if candidate[:1] in ("{", "[") and _too_deep(candidate):
            deep = True
            continue
        try:
            data, _ = _DECODER.raw_decode(candidate)
        except (ValueError, RecursionError):  # RecursionError: a backstop, the depth is checked above
            continue
        if isinstance(data, dict) and isinstance(data.get("comments"), list):
            return list(data["comments"])
    if deep:
        return f"reply nests deeper than {MAX_DEPTH} levels"
    return "no JSON object with a comments list"
