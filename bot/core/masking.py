"""Mask credentials in diff lines before anything is sent to the model.

Pure: takes file diffs, returns masked copies and how many values were masked.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace

from bot.core.diff import FileDiff, Hunk

MASK = "[MASKED]"

_KNOWN_TOKENS = re.compile(
    r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9-]{10,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    r"|[sr]k_live_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,}"
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    r"|https://hooks\.slack\.com/services/[A-Za-z0-9/]+)"
)
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)[\w.-]*)
    (?P<sep>["']?\s*(?::=|=>|=|:)\s*)
    (?:(?P<quote>["'])(?P<quoted>[^"'\s]{8,})(?P=quote)|(?P<bare>[A-Za-z0-9+/=_\-.~]{12,})(?=$|[\s,;]))
    """
)
_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_MIN_ENTROPY = 3.0


def entropy(value: str) -> float:
    """Return the Shannon entropy of a string in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def mask_line(text: str) -> tuple[str, int]:
    """Mask known token shapes and high-entropy secret assignments in one line."""
    text, count = _KNOWN_TOKENS.subn(MASK, text)

    def assignment(match: re.Match[str]) -> str:
        nonlocal count
        value = match["quoted"] or match["bare"]
        bare_word = match["bare"] and not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value))
        if MASK in value or bare_word or entropy(value) < _MIN_ENTROPY:
            return match[0]
        count += 1
        quote = match["quote"] or ""
        return f"{match['name']}{match['sep']}{quote}{MASK}{quote}"

    return _ASSIGNMENT.sub(assignment, text), count


def _mask_hunk(hunk: Hunk) -> tuple[Hunk, int]:
    masked = 0
    in_key = False
    lines = []
    for line in hunk.lines:
        text = line.text
        if _KEY_BEGIN.search(text):
            in_key = True
        if in_key:
            ended = bool(_KEY_END.search(text))
            if not (_KEY_BEGIN.search(text) or ended):
                text, masked = MASK, masked + 1
            in_key = not ended
        else:
            text, n = mask_line(text)
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
