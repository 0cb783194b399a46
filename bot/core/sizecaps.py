"""Size caps checked before anything is parsed or tokenised: a file over them is listed as too large, never loaded.

Pure. The caps are in characters of the diff text (bytes for blobs): 1 MB of patch is about 250,000 tokens,
ten full requests; a 20,000-character line is minified or generated text, not code to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.batching import Skipped
from bot.core.classify import SkipReason
from bot.core.diff import DiffError, FileDiff, count_changed, decode, parse_diff


@dataclass(frozen=True)
class SizeCaps:
    """The largest diff, file patch, line and blob that are read."""

    diff_chars: int = 10_000_000
    file_chars: int = 1_000_000
    line_chars: int = 20_000
    blob_bytes: int = 1_000_000


class TooLarge(Exception):
    """A blob the host reports as larger than the cap; it was not fetched."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


DEFAULT_CAPS = SizeCaps()
_GIT_SECTION = re.compile(r"^diff --git ", re.M)
_PLAIN_SECTION = re.compile(r"^--- [^\n]*\n\+\+\+ [^\n]*\n@@", re.M)
_HEAD_CHARS = 65_536


def fits(patch: str, caps: SizeCaps) -> bool:
    """Return whether one file's patch is within the file and line caps."""
    if len(patch) > caps.file_chars:
        return False
    return len(patch) <= caps.line_chars or max(map(len, patch.split("\n"))) <= caps.line_chars


def blob_fits(data: bytes | None, caps: SizeCaps) -> bool:
    """Return whether a blob (None: absent) is within the blob and line caps."""
    if data is None:
        return True
    return len(data) <= caps.blob_bytes and (len(data) <= caps.line_chars
                                             or max(map(len, data.split(b"\n"))) <= caps.line_chars)


def _sections(text: str) -> list[int]:
    """Return where each file of a diff starts (the text before the first is not a file)."""
    return [m.start() for m in _GIT_SECTION.finditer(text)] or [m.start() for m in _PLAIN_SECTION.finditer(text)]


def _skipped(text: str, start: int, end: int) -> Skipped:
    """Describe a file over the caps from its header alone (its body is never parsed)."""
    hunks = text.find("\n@@", start, min(end, start + _HEAD_CHARS))
    stop = hunks + 1 if hunks >= 0 else text.rfind("\n", start, min(end, start + _HEAD_CHARS)) + 1
    try:
        path = next((f.path for f in parse_diff(text[start:stop])), "(a file without a name)")
    except DiffError:
        path = "(a file without a name)"
    body = max(hunks, start)
    return Skipped(path, SkipReason.TOO_LARGE, count_changed(text, body, end))


def screen_diff(data: str | bytes, caps: SizeCaps = DEFAULT_CAPS) -> tuple[str, list[Skipped]]:
    """Return the diff without the files over the caps, and those files as skipped (in the diff's order).

    Files are kept in order while the whole stays under `diff_chars`; the rest are listed, not parsed.
    """
    text = decode(data) if isinstance(data, bytes) else data
    starts = _sections(text)
    if not starts:
        if len(text) > caps.file_chars:
            raise DiffError(f"not a unified diff: {len(text):,} characters without a file header")
        return text, []
    kept, skipped, total = [text[:min(starts[0], caps.file_chars)]], [], 0
    for start, end in zip(starts, [*starts[1:], len(text)]):
        if end - start <= caps.file_chars and total + end - start <= caps.diff_chars and fits(text[start:end], caps):
            kept.append(text[start:end])
            total += end - start
        else:
            skipped.append(_skipped(text, start, end))
    return "".join(kept), skipped


def parse_capped(data: str | bytes, caps: SizeCaps = DEFAULT_CAPS) -> tuple[list[FileDiff], list[Skipped]]:
    """Parse a diff's files that fit the caps; list the others as too large."""
    text, skipped = screen_diff(data, caps)
    return parse_diff(text), skipped
