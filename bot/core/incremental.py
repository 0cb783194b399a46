"""Incremental review: which hunks of the PR's diff changed since the last reviewed head. Pure.

Anchors always come from the PR's own diff (merge base ... head). The compare of the
two heads only says *where* the head changed; both number the head's lines alike on
the new side, so a PR hunk is kept when it covers a line the compare touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.core.diff import FileDiff, Hunk, LineKind


def touched_lines(file: FileDiff) -> set[int]:
    """Return the head line numbers a diff adds, and where it removes lines."""
    touched: set[int] = set()
    for hunk in file.hunks:
        next_new = hunk.new_start
        for line in hunk.lines:
            if line.kind is LineKind.REMOVED:
                touched.add(next_new)
            else:
                if line.kind is LineKind.ADDED:
                    touched.add(line.new_no or next_new)
                next_new = (line.new_no or next_new) + 1
    return touched


def _covers(hunk: Hunk, lines: set[int]) -> bool:
    return any(hunk.new_start <= n <= hunk.new_start + hunk.new_len for n in lines)


def changed_since(pr_files: Sequence[FileDiff], compare_files: Sequence[FileDiff]) -> tuple[list[FileDiff], int]:
    """Return the PR files cut down to hunks the compare touched, and how many files were unchanged."""
    by_path = {f.path: f for f in compare_files}
    kept: list[FileDiff] = []
    unchanged = 0
    for file in pr_files:
        since = by_path.get(file.path)
        if since is None:
            unchanged += 1
            continue
        lines = touched_lines(since)
        hunks = tuple(h for h in file.hunks if _covers(h, lines))
        if hunks:
            kept.append(replace(file, hunks=hunks))
        elif file.hunks or file.binary:
            unchanged += 1
        else:
            kept.append(file)
    return kept, unchanged
