"""Which changes a re-run reviews: only what the push since the last reviewed head touched, plus files owed."""

from __future__ import annotations

from bot.core.changes import read_listed
from bot.core.diff import FileDiff
from bot.core.incremental import changed_since
from bot.core.marker import Marker, path_digest
from bot.core.sizecaps import DEFAULT_CAPS, fits
from bot.review.ports import PullInfo, PullPort


def since_last_review(pr: PullPort, info: PullInfo, marker: Marker, files: list[FileDiff],
                      notes: list[str]) -> tuple[list[FileDiff], str | None]:
    """Cut the files to the changes since the marker's head; the whole pull request after a force-push.

    Returns the files in scope and the head they are reviewed since (None: the whole pull request).
    """
    cmp = pr.compare(marker.head, info.head_sha) if marker.head else None
    if cmp is not None and cmp.status == "ahead" and not cmp.complete:
        notes.append(f"This push changed more files than the host's compare lists, and which ones could not be "
                     f"told: the whole {info.noun} was reviewed again.")
        return files, None
    if cmp is None or cmp.status != "ahead":  # a force-push (diverged, behind) reviews everything
        return files, None
    readable = [f for f in cmp.files if f.patch and fits(f.patch, DEFAULT_CAPS)]
    touched = [read_listed(f) for f in readable]
    owed = set(marker.pending)  # left out of the last run for budget: reviewed whole now
    whole = {f.path for f in cmp.files} - {f.path for f in readable}
    whole |= {f.path for f in files if path_digest(f.path) in owed}
    cut, _ = changed_since([f for f in files if f.path not in whole], touched)
    return cut + [f for f in files if f.path in whole], marker.head
