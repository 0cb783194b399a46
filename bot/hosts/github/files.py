"""GitHub's "list pull request files" and compare entries, mapped to the change set's listed files."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.changes import ListedFile, read_listed
from bot.core.diff import FileDiff, FileStatus

STATUS = {"added": FileStatus.ADDED, "removed": FileStatus.REMOVED, "renamed": FileStatus.RENAMED,
          "copied": FileStatus.ADDED}


def listed_file(entry: Mapping[str, object]) -> ListedFile:
    """Map one file entry; one without `patch` is binary, or too large for GitHub (its counts say which)."""
    path = str(entry["filename"])

    def count(key: str) -> int:
        return int(str(entry.get(key) or 0))

    return ListedFile(path, str(entry.get("previous_filename") or path),
                      STATUS.get(str(entry.get("status")), FileStatus.MODIFIED), str(entry.get("patch") or ""),
                      count("additions"), count("deletions"))


def parse_github_file(entry: Mapping[str, object]) -> FileDiff:
    """Turn one entry of GitHub's "list pull request files" answer into a file diff."""
    return read_listed(listed_file(entry))
