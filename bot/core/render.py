"""Render file diffs as the model sees them: only changed lines carry numbers.

Tekken spells every digit as a token of its own, so numbering context lines would
cost 20-30% more tokens; quotes make anchoring robust without them.
"""

from __future__ import annotations

from bot.core.diff import DiffLine, FileDiff, Hunk, LineKind


def file_header(file: FileDiff) -> str:
    """Render the line that opens a file's section."""
    status = file.status.value
    if file.old_path and file.old_path != file.path:
        status = f"{status} from {file.old_path}"
    return f"### FILE {file.path} ({status})\n"


def render_line(line: DiffLine) -> str:
    """Render one diff line with its anchor number when it is changed."""
    if line.kind is LineKind.ADDED:
        return f"+{line.new_no}|{line.text}\n"
    if line.kind is LineKind.REMOVED:
        return f"-{line.old_no}|{line.text}\n"
    return f" {line.text}\n"


def hunk_header(hunk: Hunk) -> str:
    """Render a hunk's `@@` line."""
    section = f" {hunk.section}" if hunk.section else ""
    return f"@@ -{hunk.old_start},{hunk.old_len} +{hunk.new_start},{hunk.new_len} @@{section}\n"


def render_hunk(hunk: Hunk) -> str:
    """Render a hunk: its header and its lines."""
    return hunk_header(hunk) + "".join(render_line(line) for line in hunk.lines)


def render_files(parts: list[tuple[FileDiff, tuple[Hunk, ...]]]) -> str:
    """Render the files of a batch, each with the hunks the batch holds."""
    return "".join(file_header(f) + "".join(render_hunk(h) for h in hunks) for f, hunks in parts)
