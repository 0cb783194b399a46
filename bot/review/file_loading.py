"""The files of a pull request as diffs: the host's patches, or the two blobs diffed here where it sent none."""

from __future__ import annotations

from dataclasses import replace

from bot.core.batching import Skipped
from bot.core.changes import ListedFile, read_listed
from bot.core.classify import SkipReason
from bot.core.diff import FileDiff, FileStatus, diff_texts
from bot.core.sizecaps import DEFAULT_CAPS, TooLarge, blob_fits, fits
from bot.review.ports import PullInfo, PullPort


def _blobs(pr: PullPort, info: PullInfo, listed: ListedFile, merge_base: str) -> FileDiff | None:
    """Diff the base and head blobs of a file the host sent without a patch; None when one is over the caps."""
    path, old_path = listed.path, listed.old_path
    added = listed.status is FileStatus.ADDED and old_path == path  # a copy is diffed against its source
    try:
        old = None if added else pr.file_text(old_path, merge_base, max_bytes=DEFAULT_CAPS.blob_bytes)
        new = None if listed.status is FileStatus.REMOVED else pr.file_text(path, info.head_sha, max_bytes=DEFAULT_CAPS.blob_bytes)
    except TooLarge:
        return None
    if not (blob_fits(old, DEFAULT_CAPS) and blob_fits(new, DEFAULT_CAPS)):
        return None
    return diff_texts(path, old_path, old, new)


def load_files(pr: PullPort, info: PullInfo, listing: list[ListedFile]) -> tuple[list[FileDiff], list[Skipped]]:
    """Read the listed files; diff the base and head blobs ourselves where the host left the patch out.

    A patch or blob over the size caps is never parsed (a blob is not even fetched): it is listed as too large.
    """
    files: list[FileDiff] = []
    too_large: list[Skipped] = []
    merge_base: str | None = None
    for listed in listing:
        changes = listed.changes
        if listed.patch and not fits(listed.patch, DEFAULT_CAPS):
            too_large.append(Skipped(listed.path, SkipReason.TOO_LARGE, changes))
            continue
        if listed.patch or not (changes or listed.omitted):
            parsed = read_listed(listed)
            if not listed.patch and listed.status is not FileStatus.RENAMED:
                parsed = replace(parsed, binary=True)  # no patch and no line counts: a binary file
            files.append(parsed)
            continue
        if merge_base is None:
            cmp = pr.compare(info.base_sha, info.head_sha)
            merge_base = (cmp.merge_base if cmp else None) or info.base_sha
        diffed = _blobs(pr, info, listed, merge_base)
        if diffed is None:
            too_large.append(Skipped(listed.path, SkipReason.TOO_LARGE, changes))
        else:
            files.append(diffed)
    return files, too_large
