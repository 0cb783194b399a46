"""Validate the model's reply and anchor each comment on a commentable line of its batch.

Pure. The reply is untrusted: anything that does not land on a line of the batch's
diff is dropped with a reason, and a bad reply costs that batch's comments only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.batching import Batch
from bot.core.diff import DiffLine, Side
from bot.core.masking import MASK
from bot.core.numbers import bounded_int
from bot.core.reply_reader import read_reply
from bot.core.severity import Severity

_SEVERITIES = {s.value: s for s in Severity}

REANCHOR_DISTANCE = 5
MAX_ENTRIES = 10_000  # comments read from one reply (the prompt asks for at most 30); the rest is one drop
MAX_LINE = 10_000_000  # no diff this bot reads has a line number past this


@dataclass(frozen=True)
class Comment:
    """A finding anchored on a line of the PR's diff."""

    path: str
    line: int
    side: Side
    severity: Severity
    body: str
    quote: str
    start_line: int | None = None
    suggestion: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the comment as the JSON the CLI prints."""
        out: dict[str, Any] = {"path": self.path, "line": self.line, "side": self.side.value,
                               "severity": self.severity.value, "body": self.body}
        if self.start_line is not None:
            out["start_line"] = self.start_line
        if self.suggestion is not None:
            out["suggestion"] = self.suggestion
        return out


@dataclass(frozen=True)
class Dropped:
    """A comment (or a whole reply) that was not kept, and why."""

    reason: str
    path: str | None = None
    line: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the drop as JSON."""
        return {k: v for k, v in {"reason": self.reason, "path": self.path, "line": self.line,
                                  "detail": self.detail}.items() if v not in (None, "")}


@dataclass(frozen=True)
class _Anchor:
    hunk: int
    index: int
    line: DiffLine


def squash_space(text: str) -> str:
    return " ".join(text.split())


def _number_on(line: DiffLine, side: Side) -> int | None:
    """Return the line's number in the given side's numbering (context lines have both)."""
    return line.new_no if side is Side.RIGHT else line.old_no


class BatchIndex:
    """The commentable lines of one batch, by path, side and number."""

    def __init__(self, batch: Batch) -> None:
        self._by_key: dict[tuple[str, Side, int], _Anchor] = {}
        self._hunks: dict[str, list[tuple[int, Sequence[DiffLine]]]] = {}
        number = 0
        for file, hunks in batch.parts:
            for hunk in hunks:
                self._hunks.setdefault(file.path, []).append((number, hunk.lines))
                for i, ln in enumerate(hunk.lines):
                    for side in Side:
                        own = _number_on(ln, side)
                        if own is not None:
                            self._by_key.setdefault((file.path, side, own), _Anchor(number, i, ln))
                number += 1

    def has_path(self, path: str) -> bool:
        """Return whether the batch holds this file."""
        return path in self._hunks

    def get(self, path: str, side: Side, line: int) -> _Anchor | None:
        """Return the anchor of a cited line, or None when it is not in the batch."""
        return self._by_key.get((path, side, line))

    def _near(self, path: str, side: Side, line: int, cited: _Anchor | None) -> list[tuple[Sequence[DiffLine], int]]:
        """Return the hunks to search, each with the row the citation points at.

        A cited line's own hunk only; else every hunk with a line of that side within
        REANCHOR_DISTANCE of the cited number (the model counted past a hunk's edge).
        """
        near: list[tuple[Sequence[DiffLine], int]] = []
        for number, lines in self._hunks.get(path, []):
            if cited is not None:
                if number == cited.hunk:
                    near.append((lines, cited.index))
                continue
            rows = [(abs(n - line), i) for i, ln in enumerate(lines) if (n := _number_on(ln, side)) is not None]
            if rows and min(rows)[0] <= REANCHOR_DISTANCE:
                near.append((lines, min(rows)[1]))
        return near

    def find_quote(self, path: str, side: Side, line: int, quote: str, cited: _Anchor | None) -> tuple[Side, int] | None:
        """Return the anchor whose text is the quote, nearest the cited row; the cited side first.

        The other side is searched only when the quote matches no line on the cited side.
        """
        wanted = squash_space(quote)
        near = self._near(path, side, line, cited)
        for where in (side, Side.LEFT if side is Side.RIGHT else Side.RIGHT):
            best: tuple[int, int] | None = None
            for lines, row in near:
                for i, ln in enumerate(lines):
                    own = _number_on(ln, where)
                    if own is not None and squash_space(ln.text) == wanted and (best is None or abs(i - row) < best[0]):
                        best = (abs(i - row), own)
            if best is not None:
                return where, best[1]
        return None


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def line_number(value: Any) -> int | None:
    """Return a line number written as a JSON integer or as ASCII digits, in range; None for anything else."""
    if isinstance(value, str):
        value = bounded_int(value.strip(), len(str(MAX_LINE)))
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_LINE else None


def _text(value: Any) -> str | None:
    """Return a string field as text that encodes (lone surrogates from JSON escapes replaced); None if not a string."""
    if not isinstance(value, str):
        return None
    return value.encode("utf-8", "replace").decode("utf-8") if _SURROGATE.search(value) else value


_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9][A-Za-z0-9-]*)")


def neutralise_mentions(text: str) -> str:
    """Stop `@user` and `@org/team` in model text from pinging anyone (a zero-width joiner after @)."""
    return _MENTION.sub("@\u200d", text)


def _range_start(start: int | None, cited: int, line: int, same_side: bool) -> int | str | None:
    """Move a range's first line with its last, in the same numbering; a reason string when it cannot be kept.

    A comment moved to the other side keeps its last line only: the two numberings differ.
    """
    if start is None or not same_side:
        return None
    start += line - cited
    if start == line:
        return None
    return "bad_range" if start > line else start


def _anchor(entry: Mapping[str, Any], index: BatchIndex) -> Comment | Dropped:
    path = _text(entry.get("path"))
    line = line_number(entry.get("line"))
    side_text = _text(entry.get("side") or "RIGHT")
    if path is None or line is None or side_text is None or side_text.upper() not in ("LEFT", "RIGHT"):
        return Dropped("malformed", path, line, "path, line or side missing or not valid")
    side = Side(side_text.upper())
    body = _text(entry.get("body"))
    if body is None or not body.strip():
        return Dropped("empty_body", path, line)
    severity_text = _text(entry.get("severity", "minor"))
    severity = _SEVERITIES.get(severity_text.lower()) if severity_text is not None else None
    if severity is None:
        shown = repr(severity_text[:40]) if severity_text is not None else type(entry.get("severity")).__name__
        return Dropped("malformed", path, line, f"unknown severity {shown}")
    if not index.has_path(path):
        return Dropped("path_not_in_batch", path, line)
    quote = _text(entry.get("quote"))
    cited = index.get(path, side, line)
    target: tuple[Side, int] | None = (side, line) if cited else None
    if quote is not None and (cited is None or squash_space(cited.line.text) != squash_space(quote)):
        target = index.find_quote(path, side, line, quote, cited)
        if target is None:
            return Dropped("quote_not_found" if cited else "line_not_in_diff", path, line)
    if target is None:
        return Dropped("line_not_in_diff", path, line)
    new_side, new_line = target
    anchor = index.get(path, new_side, new_line)
    assert anchor is not None
    start = _range_start(line_number(entry.get("start_line")), line, new_line, new_side is side)
    if isinstance(start, str):
        return Dropped(start, path, line)
    if start is not None:
        first = index.get(path, new_side, start)
        if first is None or first.hunk != anchor.hunk:
            return Dropped("range_crosses_hunks", path, line)
    suggestion = _text(entry.get("suggestion"))
    if suggestion is not None and new_side is Side.LEFT:
        return Dropped("suggestion_on_left", path, line)
    if suggestion is not None and (MASK in suggestion or (start is None and suggestion.rstrip("\n") == anchor.line.text)):
        suggestion = None  # would write a mask into the code, or changes nothing
    return Comment(path, new_line, new_side, severity, neutralise_mentions(body.strip()), anchor.line.text,
                   start, suggestion.rstrip("\n") if suggestion is not None else None)


def parse_reply(content: str | None, batch: Batch) -> tuple[list[Comment], list[Dropped]]:
    """Parse and anchor one batch's reply; each entry is kept or dropped with a reason, an unreadable reply drops whole."""
    entries = read_reply(content)
    if isinstance(entries, str):
        return [], [Dropped("malformed_reply", detail=f"batch {batch.index}: {entries}")]
    return anchor_entries(entries, batch)


def anchor_entries(entries: Sequence[Any], batch: Batch) -> tuple[list[Comment], list[Dropped]]:
    """Anchor a reply's comment entries (any JSON values) on the batch: each is kept or dropped with a reason."""
    index = BatchIndex(batch)
    kept: list[Comment] = []
    dropped: list[Dropped] = []
    for entry in entries[:MAX_ENTRIES]:
        result = _anchor(entry, index) if isinstance(entry, dict) else Dropped("malformed", detail="not an object")
        (kept if isinstance(result, Comment) else dropped).append(result)  # type: ignore[arg-type]
    if len(entries) > MAX_ENTRIES:
        dropped.append(Dropped("too_many_comments", detail=f"{len(entries) - MAX_ENTRIES:,} past the first "
                                                           f"{MAX_ENTRIES:,} not read"))
    return kept, dropped
