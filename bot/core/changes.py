"""The change set every host maps to: files as a host lists them, read into the diff model by one reader,
and the positions hosts anchor comments on.

Pure: no I/O. A host lists each file with its hunks as unified diff text without file headers (GitHub's
`patch`, GitLab's `diff`); `read_listed` turns that text into a `FileDiff` whose rows carry both numberings,
and `Positions` answers where a commented row sits for any host: GitHub's (path, side, line) and GitLab's
(old_path, new_path, old_line, new_line) with the counters of its line code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.diff import DiffError, DiffLine, FileDiff, FileStatus, LineKind, Side, count_changed, parse_diff


@dataclass(frozen=True)
class ListedFile:
    """One changed file as a host lists it; its diff text is read only after the size caps allow it."""

    path: str
    old_path: str  # the path before the change (the same as `path` unless renamed or copied)
    status: FileStatus
    patch: str = ""  # the hunks, without file headers; "" when the host sent none
    additions: int | None = None  # None: the host gave no counts (the patch is counted when needed)
    deletions: int | None = None
    too_large: bool = False  # the host left the diff out for its size: the two blobs are diffed instead
    collapsed: bool = False

    @property
    def omitted(self) -> bool:
        """Return whether the host left this file's diff out although it changed."""
        return self.too_large or self.collapsed

    @property
    def changes(self) -> int:
        """Return the number of added and removed lines, as the host counted them or from the patch.

        A file whose diff the host left out, uncounted, changed at least one line.
        """
        if self.additions is not None or self.deletions is not None:
            return (self.additions or 0) + (self.deletions or 0)
        counted = (self.patch[:1] in ("+", "-")) + count_changed(self.patch)
        return max(counted, 1) if self.omitted else counted


def read_patch(path: str, old_path: str | None, status: FileStatus, patch: str) -> FileDiff:
    """Read one file's hunks (unified diff text without file headers) into the diff model."""
    if not patch:
        return FileDiff(path, None if status is FileStatus.ADDED else old_path, status, ())
    # Stand-in header names: a real name may hold a newline or a space that would break the header lines.
    old = "/dev/null" if status is FileStatus.ADDED else "a/file"
    new = "/dev/null" if status is FileStatus.REMOVED else "b/file"
    parsed = parse_diff(f"--- {old}\n+++ {new}\n{patch}\n")
    if len(parsed) != 1:
        raise DiffError(f"{path}: patch is not a single file's hunks")
    return FileDiff(path, None if status is FileStatus.ADDED else old_path, status, parsed[0].hunks)


def read_listed(listed: ListedFile) -> FileDiff:
    """Read a listed file's patch into the diff model."""
    return read_patch(listed.path, listed.old_path, listed.status, listed.patch)


@dataclass(frozen=True)
class RowPosition:
    """Where one diff row sits: the row (its numbers in the old and new file, GitHub's side and line), its
    file's paths, and each file's counter at the row.

    A counter is the number the row would have in that file: an added row carries the old file's line it
    is inserted before, a removed row the new file's (GitLab builds its line codes from these).
    """

    path: str
    old_path: str
    row: DiffLine
    old_at: int
    new_at: int


def rows(file: FileDiff) -> list[RowPosition]:
    """Return the position of every row of a file's hunks."""
    out: list[RowPosition] = []
    old_path = file.old_path or file.path
    for hunk in file.hunks:
        old, new = hunk.old_start, hunk.new_start
        for line in hunk.lines:
            out.append(RowPosition(file.path, old_path, line, old, new))
            old += line.kind is not LineKind.ADDED
            new += line.kind is not LineKind.REMOVED
    return out


class Positions:
    """The commentable rows of a change set, by path; a file's patch is read the first time it is asked for."""

    def __init__(self, files: Iterable[ListedFile]) -> None:
        self._listed = {f.path: f for f in files}
        self._rows: dict[str, dict[tuple[Side, int], RowPosition]] = {}

    def at(self, path: str, side: Side, line: int) -> RowPosition | None:
        """Return the row a comment on (path, side, line) names, or None when the diff has no such row."""
        if path not in self._rows:
            listed = self._listed.get(path)
            found = rows(read_listed(listed)) if listed is not None else []
            self._rows[path] = {}
            for row in found:  # a context row has a number on both sides: a comment may name either
                if row.row.kind is not LineKind.ADDED:
                    self._rows[path].setdefault((Side.LEFT, row.old_at), row)
                if row.row.kind is not LineKind.REMOVED:
                    self._rows[path].setdefault((Side.RIGHT, row.new_at), row)
        return self._rows[path].get((side, line))

    def old_path(self, path: str) -> str:
        """Return the file's path before the change."""
        listed = self._listed.get(path)
        return listed.old_path if listed is not None else path
