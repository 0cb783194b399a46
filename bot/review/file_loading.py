"""The files of a pull request as diffs: the host's patches, or the two blobs diffed here where it sent none."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.batching import Skipped
from bot.core.classify import SkipReason
from bot.core.diff import FileDiff, diff_texts, parse_file_entry
from bot.core.sizecaps import SizeCaps, TooLarge, blob_fits, fits
from bot.review.ports import PullInfo, PullPort

CAPS = SizeCaps()


def _blobs(pr: PullPort, info: PullInfo, entry: dict[str, Any], merge_base: str) -> FileDiff | None:
    """Diff the base and head blobs of a file the host sent without a patch; None when one is over the caps."""
    path, old_path = str(entry["filename"]), str(entry.get("previous_filename") or entry["filename"])
    try:
        old = None if entry.get("status") == "added" else pr.file_text(old_path, merge_base, max_bytes=CAPS.blob_bytes)
        new = None if entry.get("status") == "removed" else pr.file_text(path, info.head_sha, max_bytes=CAPS.blob_bytes)
    except TooLarge:
        return None
    if not (blob_fits(old, CAPS) and blob_fits(new, CAPS)):
        return None
    return diff_texts(path, old_path, old, new)


def load_files(pr: PullPort, info: PullInfo, entries: list[dict[str, Any]]) -> tuple[list[FileDiff], list[Skipped]]:
    """Parse the listed files; diff the base and head blobs ourselves where the host left `patch` out.

    A patch or blob over the size caps is never parsed (a blob is not even fetched): it is listed as too large.
    """
    files: list[FileDiff] = []
    too_large: list[Skipped] = []
    merge_base: str | None = None
    for entry in entries:
        changes = int(entry.get("additions", 0)) + int(entry.get("deletions", 0))
        patch = entry.get("patch")
        if patch and not fits(str(patch), CAPS):
            too_large.append(Skipped(str(entry["filename"]), SkipReason.TOO_LARGE, changes))
            continue
        if patch or not changes:
            parsed = parse_file_entry(entry)
            if not patch and entry.get("status") != "renamed":
                parsed = replace(parsed, binary=True)  # no patch and no line counts: the host's binary files
            files.append(parsed)
            continue
        if merge_base is None:
            cmp = pr.compare(info.base_sha, info.head_sha)
            merge_base = (cmp.merge_base if cmp else None) or info.base_sha
        diffed = _blobs(pr, info, entry, merge_base)
        if diffed is None:
            too_large.append(Skipped(str(entry["filename"]), SkipReason.TOO_LARGE, changes))
        else:
            files.append(diffed)
    return files, too_large
