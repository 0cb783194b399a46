"""Cut a batch in two, for a retry when the model's reply to the whole was cut off or unreadable. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.core.batching import Batch
from bot.core.cutting import slice_hunk
from bot.core.diff import FileDiff, Hunk
from bot.core.render import render_files

Unit = tuple[FileDiff, Hunk]


def _units(batch: Batch) -> list[Unit]:
    """Return the batch's hunks, each with its file; a lone hunk is cut between its changed lines."""
    units = [(file, hunk) for file, hunks in batch.parts for hunk in hunks]
    if len(units) != 1:
        return units
    file, hunk = units[0]
    changed = [i for i, line in enumerate(hunk.lines) if line.changed]
    if len(changed) < 2:
        return units
    cut = changed[len(changed) // 2]
    return [(file, slice_hunk(hunk, hunk.lines[:cut])), (file, slice_hunk(hunk, hunk.lines[cut:]))]


def _parts(units: Sequence[Unit]) -> tuple[tuple[FileDiff, tuple[Hunk, ...]], ...]:
    """Group consecutive hunks of the same file back into a batch's parts."""
    parts: list[tuple[FileDiff, list[Hunk]]] = []
    for file, hunk in units:
        if parts and parts[-1][0].path == file.path:
            parts[-1][1].append(hunk)
        else:
            parts.append((file, [hunk]))
    return tuple((file, tuple(hunks)) for file, hunks in parts)


def halve(batch: Batch, exact: Callable[[str], int]) -> tuple[Batch, Batch] | None:
    """Return the batch as two batches of about half its changed lines each; None when it cannot be cut.

    `exact` counts the whole request a diff text makes, as the planner does.
    """
    units = _units(batch)
    if len(units) < 2:
        return None
    weights = [sum(1 for line in hunk.lines if line.changed) + 1 for _, hunk in units]
    total, running, cut = sum(weights), 0, 1
    for i, weight in enumerate(weights[:-1]):
        running += weight
        cut = i + 1
        if running * 2 >= total:
            break
    halves = []
    for chunk in (units[:cut], units[cut:]):
        parts = _parts(chunk)
        text = render_files(list(parts))
        halves.append(Batch(batch.index, parts, text, exact(text)))
    return halves[0], halves[1]
