"""Mask credentials in diff lines before anything is sent to the model.

Pure: takes file diffs, returns masked copies and how many values were masked. The shapes live in
bot.core.secret_shapes; this module decides, per line and per hunk, what to replace with MASK.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from bot.core.diff import FileDiff, Hunk
from bot.core.secret_shapes import (
    ASSIGNMENT,
    AUTH_HEADER,
    B64_ROW,
    ESCAPED_KEY,
    KEY_BEGIN,
    KEY_END,
    KEY_ROW_WIDTHS,
    KNOWN_TOKENS,
    NAME_MARKERS,
    PLACEHOLDER,
    TOKEN_MARKERS,
    URL_CREDENTIALS,
)

MASK = "[MASKED]"
_MIN_ENTROPY = 3.0
_MIN_KEY_RUN = 160  # characters of base64 in consecutive rows: the smallest PEM private key body (EC P-256)


def entropy(value: str) -> float:
    """Return the Shannon entropy of a string in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _mixed(value: str) -> bool:
    return bool(re.search(r"\d", value) and re.search(r"[A-Za-z]", value))


def mask_line(text: str) -> tuple[str, int]:
    """Mask key material, known token shapes, URL credentials and high-entropy secret assignments in one line."""
    count = 0

    def whole(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return MASK

    def escaped_key(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"{match['begin']}\\n{MASK}\\n"

    def url(match: re.Match[str]) -> str:
        nonlocal count
        if MASK in match["password"] or PLACEHOLDER.match(match["password"]):
            return match[0]
        count += 1
        return f"{match['head']}{MASK}"

    def header(match: re.Match[str]) -> str:
        nonlocal count
        value = match["value"]
        if MASK in value or not _mixed(value) or entropy(value) < _MIN_ENTROPY:
            return match[0]
        count += 1
        return f"{match['head']}{MASK}"

    def assignment(match: re.Match[str]) -> str:
        nonlocal count
        value = match["quoted"] or match["bare"]
        if MASK in value or (match["bare"] and not _mixed(value)) or entropy(value) < _MIN_ENTROPY:
            return match[0]
        count += 1
        quote = match["quote"] or ""
        return f"{match['name']}{match['sep']}{quote}{MASK}{quote}"

    if "PRIVATE KEY" in text:
        text = ESCAPED_KEY.sub(escaped_key, text)
    if any(marker in text for marker in TOKEN_MARKERS):
        text = KNOWN_TOKENS.sub(whole, text)
    if "://" in text:
        text = URL_CREDENTIALS.sub(url, text)
    lower = text.lower()
    if "bearer" in lower or "basic" in lower or "token" in lower:
        text = AUTH_HEADER.sub(header, text)
    if any(marker in lower for marker in NAME_MARKERS):
        text = ASSIGNMENT.sub(assignment, text)
    return text, count


def _b64(text: str) -> str | None:
    match = B64_ROW.match(text.strip())
    return match["b64"] if match else None


def _key_run(rows: Sequence[str | None], start: int) -> int:
    """Return where a run of base64 rows starting at `start` ends (exclusive)."""
    end = start
    while end < len(rows) and rows[end] is not None:
        end += 1
    return end


def key_rows(texts: Sequence[str]) -> set[int]:
    """Return the rows of a hunk that hold private key material, with or without the key's BEGIN line in view."""
    rows = [_b64(t) for t in texts]
    found: set[int] = set()
    inside = False
    for i, text in enumerate(texts):
        begins, ends = bool(KEY_BEGIN.search(text)), bool(KEY_END.search(text))
        if ends and not inside:  # the hunk starts inside a key block: the base64 rows above the END line
            j = i - 1
            while j >= 0 and rows[j] is not None and j not in found:
                found.add(j)
                j -= 1
        if inside and not begins and not ends:
            found.add(i)
        inside = (inside or begins) and not ends
    i = 0
    while i < len(rows):  # a bare body: consecutive rows of a key's wrap width and length, mixed like random data
        end = _key_run(rows, i)
        run = [r for r in rows[i:end] if r is not None]
        joined = "".join(run)
        if (sum(len(r) in KEY_ROW_WIDTHS for r in run) >= 2 and len(joined) >= _MIN_KEY_RUN
                and _mixed(joined) and re.search(r"[a-z]", joined) and re.search(r"[A-Z]", joined)
                and entropy(joined) > 5.0):
            found.update(range(i, end))
        i = max(end, i + 1)
    return found


def _mask_hunk(hunk: Hunk) -> tuple[Hunk, int]:
    masked = 0
    body = key_rows([ln.text for ln in hunk.lines])
    lines = []
    for i, line in enumerate(hunk.lines):
        if i in body:
            text, n = MASK, 1
        else:
            text, n = mask_line(line.text)
        masked += n
        lines.append(line if text == line.text else replace(line, text=text))
    return replace(hunk, lines=tuple(lines)), masked


def mask_file(file: FileDiff) -> tuple[FileDiff, int]:
    """Return the file with credentials masked, and how many were masked."""
    total = 0
    hunks = []
    for hunk in file.hunks:
        masked_hunk, n = _mask_hunk(hunk)
        hunks.append(masked_hunk)
        total += n
    return (replace(file, hunks=tuple(hunks)) if total else file), total
