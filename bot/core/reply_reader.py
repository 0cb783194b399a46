"""Read the JSON object out of a model's reply text, within bounds. Pure.

Any string gives the reply's `comments` list or a reason why there is none: the size and the nesting depth
are bounded before json reads it, and integers too long to be line numbers are read as null.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

# A reply is read only within these bounds; past them it is dropped with a reason, never parsed:
MAX_REPLY_CHARS = 8_000_000  # 64,000 output tokens at ~15 characters each, with room for a server that ignores max_tokens
MAX_DEPTH = 32  # a comment's fields sit at depth 3; 100,000 nested brackets made json raise RecursionError

_FENCE = re.compile(r"```[\w-]*[ \t]*\n(.*?)```", re.S)
MAX_FENCES = 16  # fenced blocks tried as the reply's JSON
# A JSON string, whose end may be missing (unrolled and possessive: linear on any text).
_STRING = re.compile(r'"[^"\\]*+(?:\\.?[^"\\]*+)*+(?:"|\Z)', re.S)
_SQUARE = bytes.maketrans(b"{}", b"[]")  # for depth, every bracket is a square one
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")  # UTF-8 never has these bytes inside a character


def _too_deep(text: str) -> bool:
    """Return whether brackets outside strings nest deeper than MAX_DEPTH anywhere in the text.

    Each round removes the innermost pairs (C-speed bytes work): a pair left after MAX_DEPTH rounds sat deeper.
    """
    shape = _STRING.sub("", text).encode("utf-8", "surrogatepass").translate(_SQUARE, _NOT_BRACKET)
    for _ in range(MAX_DEPTH):
        inner = shape.replace(b"[]", b"")
        if len(inner) == len(shape):
            return False
        shape = inner
    return b"[]" in shape


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
    if _too_deep(text):
        return f"reply nests deeper than {MAX_DEPTH} levels"
    candidates = [text, *(m.group(1) for m in itertools.islice(_FENCE.finditer(text), MAX_FENCES))]
    if "{" in text:
        candidates.append(text[text.index("{"):])
    for candidate in (c.strip() for c in candidates):
        try:
            data, _ = _DECODER.raw_decode(candidate)
        except (ValueError, RecursionError):  # RecursionError: a backstop, the depth is checked above
            continue
        if isinstance(data, dict) and isinstance(data.get("comments"), list):
            return list(data["comments"])
    return "no JSON object with a comments list"
