"""Pack hunks into batches whose whole request fits the per-request token budget.

Pure and deterministic: the same files and limits always give the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.classify import SkipReason, file_skip_reason, priority
from bot.core.diff import DiffLine, FileDiff, Hunk, Side
from bot.core.masking import mask_file
from bot.core.render import file_header, render_files, render_hunk, render_line

OVERLAP_LINES = 3


class Counter(Protocol):
    """Counts tokens of text pieces and of whole chat requests."""

    def text(self, text: str) -> int:
        """Return the number of tokens of a piece of text."""

    def request(self, system: str, user: str) -> int:
        """Return the number of tokens of a whole request as the model sees it."""


@dataclass(frozen=True)
class Limits:
    """Token limits of one request."""

    request_tokens: int = 24_000
    output_tokens: int = 4_000

    @property
    def margin(self) -> int:
        """Return the safety margin kept free for tokenizer differences."""
        return max(64, self.request_tokens // 50)  # 2%

    @property
    def input_tokens(self) -> int:
        """Return the most input tokens one request may carry."""
        return self.request_tokens - self.output_tokens - self.margin


@dataclass(frozen=True)
class Part:
    """Some hunks (or a slice of one) of one file, kept together in a batch."""

    file: FileDiff
    hunks: tuple[Hunk, ...]
    tokens: int


@dataclass(frozen=True)
class Batch:
    """One model request's worth of diff."""

    index: int
    parts: tuple[tuple[FileDiff, tuple[Hunk, ...]], ...]
    diff_text: str
    input_tokens: int

    @property
    def paths(self) -> list[str]:
        """Return the paths of the files in this batch, in order."""
        return [f.path for f, _ in self.parts]

    def changed_lines(self) -> set[tuple[str, Side, int]]:
        """Return the anchors of the changed lines this batch holds."""
        return {(f.path, ln.side, ln.line) for f, hunks in self.parts for h in hunks for ln in h.lines if ln.changed}


@dataclass(frozen=True)
class Skipped:
    """A file (or what is left of one) that is not sent, and why."""

    path: str
    reason: SkipReason
    changed_lines: int = 0


@dataclass(frozen=True)
class Plan:
    """What will be sent to the model and what will not."""

    batches: tuple[Batch, ...]
    skipped: tuple[Skipped, ...]
    changed_lines: int
    covered_lines: int
    masked_secrets: int
    limits: Limits = field(default_factory=Limits)

    @property
    def input_tokens(self) -> int:
        """Return the input tokens of all batches."""
        return sum(b.input_tokens for b in self.batches)


def slice_hunk(hunk: Hunk, lines: Sequence[DiffLine]) -> Hunk:
    """Return the part of a hunk made of these consecutive lines, with its header numbers."""
    old = [ln.old_no for ln in lines if ln.old_no is not None]
    new = [ln.new_no for ln in lines if ln.new_no is not None]
    old_start = old[0] if old else max(hunk.old_start, 0)
    new_start = new[0] if new else max(hunk.new_start, 0)
    return Hunk(old_start, len(old), new_start, len(new), hunk.section, tuple(lines))


def _split_hunk(hunk: Hunk, room: int, count: Callable[[str], int]) -> list[tuple[Hunk, int]]:
    """Split a hunk at line boundaries into slices of at most `room` tokens, overlapping a little."""
    costs = [count(render_line(ln)) for ln in hunk.lines]
    header = count(render_hunk(Hunk(hunk.old_start, hunk.old_len, hunk.new_start, hunk.new_len, hunk.section, ())))
    pieces: list[tuple[Hunk, int]] = []
    start = 0
    while start < len(hunk.lines):
        end, used = start, header
        while end < len(hunk.lines) and (used + costs[end] <= room or end == start):
            used += costs[end]
            end += 1
        pieces.append((slice_hunk(hunk, hunk.lines[start:end]), used))
        if end >= len(hunk.lines):
            break
        start = max(end - OVERLAP_LINES, start + 1)
    return pieces


def _parts_of(file: FileDiff, room: int, count: Callable[[str], int]) -> list[Part]:
    """Cut a file into parts that each fit `room` tokens, keeping it whole when it fits."""
    head = count(file_header(file))
    sized = [(h, count(render_hunk(h))) for h in file.hunks]
    if head + sum(t for _, t in sized) <= room:
        return [Part(file, file.hunks, head + sum(t for _, t in sized))]
    pieces: list[tuple[Hunk, int]] = []
    for hunk, tokens in sized:
        pieces.extend(_split_hunk(hunk, room - head, count) if head + tokens > room else [(hunk, tokens)])
    parts: list[Part] = []
    current: list[Hunk] = []
    used = head
    for hunk, tokens in pieces:
        if current and used + tokens > room:
            parts.append(Part(file, tuple(current), used))
            current, used = [], head
        current.append(hunk)
        used += tokens
    parts.append(Part(file, tuple(current), used))
    return parts


def _first_fit_decreasing(parts: list[Part], room: int) -> list[list[Part]]:
    order = sorted(range(len(parts)), key=lambda i: (-parts[i].tokens, i))
    bins: list[list[Part]] = []
    free: list[int] = []
    for i in order:
        part = parts[i]
        for b, left in enumerate(free):
            if part.tokens <= left:
                bins[b].append(part)
                free[b] -= part.tokens
                break
        else:
            bins.append([part])
            free.append(room - part.tokens)
    return bins


def _merge_by_file(parts: list[Part]) -> tuple[tuple[FileDiff, tuple[Hunk, ...]], ...]:
    """Group a bin's parts by file (a file cut into parts may land twice in one bin)."""
    grouped: dict[str, tuple[FileDiff, list[Hunk]]] = {}
    for part in sorted(parts, key=lambda p: (priority(p.file.path), p.file.path)):
        grouped.setdefault(part.file.path, (part.file, []))[1].extend(part.hunks)
    return tuple((f, tuple(hunks)) for f, hunks in grouped.values())


@dataclass(frozen=True)
class RequestShape:
    """How a batch's diff becomes a request, for exact counting."""

    overhead: int
    exact: Callable[[str], int]


def _pack(parts: list[Part], room: int, shape: RequestShape, limit: int) -> list[Batch]:
    batches: list[Batch] = []
    for group in _first_fit_decreasing(parts, room):
        merged = _merge_by_file(group)
        text = render_files(list(merged))
        exact = shape.exact(text)
        if exact > limit and len(group) > 1:
            # Token counts of pieces do not always add up to the count of the whole text.
            batches.extend(_pack(group, room - (exact - limit), shape, limit))
            continue
        batches.append(Batch(0, merged, text, exact))
    return batches


def plan_batches(
    files: Sequence[FileDiff],
    *,
    counter: Counter,
    shape: RequestShape,
    limits: Limits,
    ignore: Sequence[str],
    affordable: Callable[[Sequence[Batch]], bool] | None = None,
    already_skipped: Sequence[Skipped] = (),
) -> Plan:
    """Plan the batches for a set of file diffs; whatever is not sent is listed with its reason."""
    skipped = list(already_skipped)
    reviewable: list[FileDiff] = []
    masked = 0
    for file in files:
        reason = file_skip_reason(file, ignore=ignore)
        if reason is not None:
            skipped.append(Skipped(file.path, reason, file.changed_count))
            continue
        clean, n = mask_file(file)
        masked += n
        reviewable.append(clean)
    reviewable.sort(key=lambda f: (priority(f.path), f.path))
    room = limits.input_tokens - shape.overhead
    if room < 200:
        raise ValueError(f"request budget {limits.request_tokens} leaves no room for a diff after the prompt and reply")
    batches = _select(reviewable, room, counter, shape, limits.input_tokens, affordable, skipped)
    changed = sum(f.changed_count for f in reviewable)
    covered: set[tuple[str, Side, int]] = set()
    for batch in batches:
        covered |= batch.changed_lines()
    numbered = tuple(Batch(i, b.parts, b.diff_text, b.input_tokens) for i, b in enumerate(batches))
    return Plan(numbered, tuple(skipped), changed, len(covered), masked, limits)


def _select(
    files: list[FileDiff], room: int, counter: Counter, shape: RequestShape, limit: int,
    affordable: Callable[[Sequence[Batch]], bool] | None, skipped: list[Skipped],
) -> list[Batch]:
    """Pack all files, or, when that is not affordable, the longest prefix by importance that is."""
    parts_by_file = [_parts_of(f, room, counter.text) for f in files]

    def pack(n: int) -> list[Batch]:
        return _pack([p for parts in parts_by_file[:n] for p in parts], room, shape, limit)

    batches = pack(len(files))
    if affordable is None or affordable(batches):
        return _ordered(batches)
    low, high = 0, len(files)
    while low < high:
        mid = (low + high + 1) // 2
        if affordable(pack(mid)):
            low = mid
        else:
            high = mid - 1
    skipped.extend(Skipped(f.path, SkipReason.OVER_BUDGET, f.changed_count) for f in files[low:])
    return _ordered(pack(low))


def _ordered(batches: list[Batch]) -> list[Batch]:
    """Put batches holding the most important files first."""
    return sorted(batches, key=lambda b: min((priority(f.path), f.path) for f, _ in b.parts))
