"""Cut a file's hunks into parts that fit a number of tokens. Pure.

A hunk too large for a request is cut at line boundaries; consecutive slices share a few context lines
(never a changed line, which belongs to exactly one slice); a line that cannot fit even alone is left out
and counted, so the planner can list it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.diff import DiffLine, FileDiff, Hunk
from bot.core.render import file_header, render_hunk, render_line

OVERLAP_LINES = 3


@dataclass(frozen=True)
class Part:
    """Some hunks (or a slice of one) of one file, kept together in a batch."""

    file: FileDiff
    hunks: tuple[Hunk, ...]
    tokens: int
    seq: tuple[int, ...] = (0,)  # its place among the file's parts


def slice_hunk(hunk: Hunk, lines: Sequence[DiffLine]) -> Hunk:
    """Return the part of a hunk made of these consecutive lines, with its header numbers."""
    old = [ln.old_no for ln in lines if ln.old_no is not None]
    new = [ln.new_no for ln in lines if ln.new_no is not None]
    old_start = old[0] if old else max(hunk.old_start, 0)
    new_start = new[0] if new else max(hunk.new_start, 0)
    return Hunk(old_start, len(old), new_start, len(new), hunk.section, tuple(lines))


def _next_start(hunk: Hunk, start: int, end: int) -> int:
    """Return where the slice after lines[start:end] begins: a few context lines back, never a changed line twice."""
    back = max(end - OVERLAP_LINES, start + 1)
    while back < end and any(ln.changed for ln in hunk.lines[back:end]):
        back += 1
    return back


def split_hunk(hunk: Hunk, room: int, count: Callable[[str], int]) -> tuple[list[tuple[Hunk, int]], int]:
    """Split a hunk at line boundaries into slices of at most `room` tokens, overlapping by context lines.

    A line that cannot fit even alone is left out; returns the slices and how many changed lines were left out.
    """
    costs = [count(render_line(ln)) for ln in hunk.lines]
    header = count(render_hunk(Hunk(hunk.old_start, hunk.old_len, hunk.new_start, hunk.new_len, hunk.section, ())))
    pieces: list[tuple[Hunk, int]] = []
    dropped, start = 0, 0
    while start < len(hunk.lines):
        if header + costs[start] > room:
            dropped += hunk.lines[start].changed
            start += 1
            continue
        end, used = start, header
        while end < len(hunk.lines) and used + costs[end] <= room:
            used += costs[end]
            end += 1
        pieces.append((slice_hunk(hunk, hunk.lines[start:end]), used))
        if end >= len(hunk.lines):
            break
        start = end if header + costs[end] > room else _next_start(hunk, start, end)
    return pieces, dropped


def parts_of(file: FileDiff, room: int, count: Callable[[str], int], seq: tuple[int, ...] = ()) -> tuple[list[Part], int]:
    """Cut a file into parts that each fit `room` tokens, keeping it whole when it fits.

    Returns the parts, numbered in the file's order, and how many changed lines fit no request at all.
    """
    head = count(file_header(file))
    sized = [(h, count(render_hunk(h))) for h in file.hunks]
    if head + sum(t for _, t in sized) <= room:
        return [Part(file, file.hunks, head + sum(t for _, t in sized), (*seq, 0))], 0
    pieces: list[tuple[Hunk, int]] = []
    dropped = 0
    for hunk, tokens in sized:
        if head + tokens <= room:
            pieces.append((hunk, tokens))
            continue
        cut, lost = split_hunk(hunk, room - head, count)
        pieces.extend(cut)
        dropped += lost
    parts: list[Part] = []
    current: list[Hunk] = []
    used = head
    for hunk, tokens in pieces:
        if current and used + tokens > room:
            parts.append(Part(file, tuple(current), used, (*seq, len(parts))))
            current, used = [], head
        current.append(hunk)
        used += tokens
    if current:
        parts.append(Part(file, tuple(current), used, (*seq, len(parts))))
    return parts, dropped
