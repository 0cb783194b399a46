"""The diff model: unified diffs become files, hunks and lines that know their numbers in both files.

Pure: no I/O. Works on `git diff` output; a host's per-file hunks are read through bot.core.changes.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass, replace

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from bot.core.gitpaths import HeaderNames, header_name, resolve, split_git_header


class DiffError(ValueError):
    """The input is not a unified diff that can be parsed."""


class Side(str, enum.Enum):
    """Which version of a file a line number refers to (GitHub's `side`)."""

    LEFT = "LEFT"
    RIGHT = "RIGHT"


class LineKind(str, enum.Enum):
    """What a diff line does."""

    ADDED = "+"
    REMOVED = "-"
    CONTEXT = " "


class FileStatus(str, enum.Enum):
    """What happened to a file."""

    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"
    RENAMED = "renamed"


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk, with the numbers it has in the old and new file."""

    kind: LineKind
    text: str
    old_no: int | None
    new_no: int | None

    @property
    def side(self) -> Side:
        """Return the side GitHub anchors this line on."""
        return Side.LEFT if self.kind is LineKind.REMOVED else Side.RIGHT

    @property
    def line(self) -> int:
        """Return the line number on this line's side."""
        number = self.old_no if self.kind is LineKind.REMOVED else self.new_no
        assert number is not None
        return number

    @property
    def changed(self) -> bool:
        """Return whether the line was added or removed."""
        return self.kind is not LineKind.CONTEXT


@dataclass(frozen=True)
class Hunk:
    """A run of lines under one `@@` header."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str
    lines: tuple[DiffLine, ...]

    @property
    def changed_count(self) -> int:
        """Return the number of added and removed lines."""
        return sum(1 for line in self.lines if line.changed)


@dataclass(frozen=True)
class FileDiff:
    """The changes to one file."""

    path: str
    old_path: str | None
    status: FileStatus
    hunks: tuple[Hunk, ...]
    binary: bool = False

    @property
    def changed_count(self) -> int:
        """Return the number of added and removed lines."""
        return sum(h.changed_count for h in self.hunks)

    @property
    def added_count(self) -> int:
        """Return the number of added lines."""
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind is LineKind.ADDED)

    @property
    def removed_count(self) -> int:
        """Return the number of removed lines."""
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind is LineKind.REMOVED)


def count_changed(text: str, start: int = 0, end: int | None = None) -> int:
    """Return how many lines of `text[start:end]` that follow a newline start with + or - (counted, not split)."""
    end = len(text) if end is None else end
    return text.count("\n+", start, end) + text.count("\n-", start, end)


def decode(data: bytes) -> str:
    """Decode diff bytes as UTF-8, replacing bytes that are not (latin-1 files, say)."""
    return data.decode("utf-8", errors="replace")


def _line_text(value: str) -> str:
    # CRLF files keep their \r in unidiff's value; GitHub shows and quotes the line without it.
    return value.rstrip("\n").rstrip("\r")


def _convert(patched: object, names: HeaderNames) -> FileDiff:
    hunks = []
    for hunk in patched:  # type: ignore[attr-defined]
        lines = tuple(
            DiffLine(LineKind(line.line_type), _line_text(line.value), line.source_line_no, line.target_line_no)
            for line in hunk
            if line.line_type in ("+", "-", " ")
        )
        hunks.append(
            Hunk(hunk.source_start, hunk.source_length, hunk.target_start, hunk.target_length,
                 (hunk.section_header or "").strip(), lines)
        )
    source, target = resolve(names)
    if source is None or patched.is_added_file:  # type: ignore[attr-defined]
        status, path, old = FileStatus.ADDED, target or source, None
    elif target is None or patched.is_removed_file:  # type: ignore[attr-defined]
        status, path, old = FileStatus.REMOVED, source, source
    elif source != target:
        status, path, old = FileStatus.RENAMED, target, source
    else:
        status, path, old = FileStatus.MODIFIED, target, source
    if path is None:
        raise DiffError("not a unified diff: a file header names no file")
    return FileDiff(path, old, status, tuple(hunks), bool(patched.is_binary_file))  # type: ignore[attr-defined]


_STAND_IN = {"diff --git ": "diff --git a/file b/file\n", "--- ": "--- a/file\n", "+++ ": "+++ b/file\n"}
_RENAMES = {"rename from ": "rename_from", "rename to ": "rename_to", "copy from ": "rename_from",
            "copy to ": "rename_to"}


def _git_header(lines: list[str], i: int, start: int, names: HeaderNames) -> None:
    """Read header line `i` of the `diff --git` section at `start` into `names`; put stand-in names in place."""
    line = lines[i].rstrip("\n").rstrip("\r")
    lines[i] = line + "\n"
    for label, field in _RENAMES.items():
        if line.startswith(label):
            setattr(names, field, header_name(line[len(label):]))
            return
    if line[:4] in ("--- ", "+++ "):
        name = header_name(line[4:])
        setattr(names, "minus" if line[0] == "-" else "plus", name)
        if name != "/dev/null":
            lines[i] = _STAND_IN[line[:4]]
        elif line[0] == "+":  # unidiff checks `+++` against the `diff --git` line's second name
            lines[start] = "diff --git a/file /dev/null\n"


def _canonical(text: str) -> tuple[list[str], dict[int, HeaderNames]]:
    """Return the diff's lines with each git section's names replaced by stand-ins, and the real names by line.

    unidiff splits `diff --git` names at a guessed space and drops quoting; we read them as git writes them
    (bot.core.gitpaths) and give unidiff names it cannot get wrong.
    """
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    found: dict[int, HeaderNames] = {}
    current: HeaderNames | None = None
    start = 0
    for i, line in enumerate(lines):
        if line.startswith("diff --git "):
            current, start = HeaderNames(), i
            found[i + 1] = current
            pair = split_git_header(line[11:].rstrip("\n"))
            if pair is not None:
                current.git_old, current.git_new = pair
            lines[i] = _STAND_IN["diff --git "]
        elif current is not None and line.startswith("@@"):
            current = None
        elif current is not None:
            _git_header(lines, i, start, current)
    return lines, found


def _plain_names(patched: object) -> HeaderNames:
    """Return the names of a file whose header is `---`/`+++` only (no `diff --git` line)."""
    source, target = patched.source_file, patched.target_file  # type: ignore[attr-defined]
    return HeaderNames(minus=header_name(source) if source else None, plus=header_name(target) if target else None)


def parse_diff(text: str | bytes) -> list[FileDiff]:
    """Parse a whole unified diff (git's output) into files."""
    if isinstance(text, bytes):
        text = decode(text)
    if not text.strip():
        return []
    lines, names = _canonical(text)
    try:
        patch = PatchSet(lines)
    except UnidiffParseError as exc:
        raise DiffError(f"not a unified diff: {exc}") from exc
    if not len(patch) and text.strip():
        raise DiffError("not a unified diff: no file headers found")
    return [_convert(p, names.get(p.diff_line_no or 0) or _plain_names(p)) for p in patch]


def git_lines(text: str) -> list[str]:
    """Split a file into lines as git does: at `\\n` only (`\\r`, `\\f`, U+2028 and the like stay in the line)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def diff_texts(path: str, old_path: str | None, old: bytes | None, new: bytes | None) -> FileDiff:
    """Diff two versions of a file ourselves (GitHub leaves `patch` out for large files)."""
    if (old and b"\0" in old[:8192]) or (new and b"\0" in new[:8192]):
        status = FileStatus.ADDED if old is None else FileStatus.REMOVED if new is None else FileStatus.MODIFIED
        return FileDiff(path, old_path, status, (), binary=True)
    before, after = git_lines(decode(old or b"")), git_lines(decode(new or b""))
    source = "/dev/null" if old is None else f"a/{old_path or path}"
    target = "/dev/null" if new is None else f"b/{path}"
    body = "\n".join(difflib.unified_diff(before, after, source, target, lineterm=""))
    if not body:
        return FileDiff(path, old_path, FileStatus.MODIFIED, ())
    (parsed,) = parse_diff(body + "\n")
    if old_path and old_path != path and old is not None and new is not None:
        return replace(parsed, status=FileStatus.RENAMED, old_path=old_path)
    return parsed
