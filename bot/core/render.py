"""Render file diffs as the model sees them: only the first line of each run of changed lines is numbered.

Tekken spells every digit as a token of its own, so numbering every changed line cost
up to 40% more tokens than the raw hunks on diffs where most lines change. The model
counts on from a run's first number, and its `quote` anchors the comment exactly
(bot.core.reply searches the cited hunk for it), so the other numbers buy nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.diff import DiffLine, FileDiff, FileStatus, Hunk, LineKind


def file_header(file: FileDiff) -> str:
    """Render the line that opens a file's section (the status only when it is not a plain modification)."""
    status = "" if file.status is FileStatus.MODIFIED else f" ({file.status.value})"
    if file.old_path and file.old_path != file.path:
        status = f" ({file.status.value} from {file.old_path})"
    return f"### {file.path}{status}\n"


def render_line(line: DiffLine, *, numbered: bool = True) -> str:
    """Render one diff line; a changed line carries its anchor number when `numbered`."""
    if line.kind is LineKind.CONTEXT:
        return f" {line.text}\n"
    if not numbered:
        return f"{line.kind.value}{line.text}\n"
    return f"{line.kind.value}{line.line}|{line.text}\n"


def render_lines(lines: Iterable[DiffLine]) -> str:
    """Render a hunk's lines, numbering the first line of each run of added or removed lines."""
    out: list[str] = []
    previous: LineKind | None = None
    for line in lines:
        out.append(render_line(line, numbered=line.kind is not previous))
        previous = line.kind
    return "".join(out)


def hunk_header(hunk: Hunk) -> str:
    """Render a hunk's `@@` line: the new file's first line number (removed runs carry their own)."""
    section = f" {hunk.section}" if hunk.section else ""
    return f"@@ +{hunk.new_start} @@{section}\n"


def render_hunk(hunk: Hunk) -> str:
    """Render a hunk: its header and its lines."""
    return hunk_header(hunk) + render_lines(hunk.lines)


def render_files(parts: list[tuple[FileDiff, tuple[Hunk, ...]]]) -> str:
    """Render the files of a batch, each with the hunks the batch holds."""
    return "".join(file_header(f) + "".join(render_hunk(h) for h in hunks) for f, hunks in parts)


def rendered_paths(diff: str, files: Iterable[FileDiff]) -> list[str]:
    """Return the paths of the files whose section a rendered diff holds (a `###` line opens only a file header)."""
    headers = {line for line in diff.splitlines(keepends=True) if line.startswith("### ")}
    return [f.path for f in files if file_header(f) in headers]
