"""Pack hunks into batches whose whole request fits the per-request token budget.

Pure and deterministic: the same files and limits always give the same batches.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from bot.core.classify import SkipReason, file_skip_reason, priority
from bot.core.cutting import Part, parts_of
from bot.core.diff import FileDiff, Hunk, Side
from bot.core.masking import mask_file
from bot.core.render import render_files


class TokenCounter(Protocol):
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


def _first_fit_decreasing(parts: list[Part], room: int) -> list[list[Part]]:
    """Bin parts largest file first; a file's parts go in its order, each into a bin no earlier than the last."""
    biggest: dict[str, tuple[int, int]] = {}
    for i, part in enumerate(parts):
        size, first = biggest.get(part.file.path, (0, i))
        biggest[part.file.path] = (max(size, part.tokens), first)
    order = sorted(range(len(parts)), key=lambda i: (-biggest[parts[i].file.path][0],
                                                     biggest[parts[i].file.path][1], parts[i].seq))
    bins: list[list[Part]] = []
    free: list[int] = []
    floor: dict[str, int] = {}
    for i in order:
        part = parts[i]
        b = floor.get(part.file.path, 0)
        while b < len(bins) and part.tokens > free[b]:
            b += 1
        if b == len(bins):
            bins.append([])
            free.append(room)
        bins[b].append(part)
        free[b] -= part.tokens
        floor[part.file.path] = b
    return bins


def _merge_by_file(parts: list[Part]) -> tuple[tuple[FileDiff, tuple[Hunk, ...]], ...]:
    """Group a bin's parts by file, in each file's own order (a file cut into parts may land twice in one bin)."""
    grouped: dict[str, tuple[FileDiff, list[Hunk]]] = {}
    for part in sorted(parts, key=lambda p: (priority(p.file.path), p.file.path, p.seq)):
        grouped.setdefault(part.file.path, (part.file, []))[1].extend(part.hunks)
    return tuple((f, tuple(hunks)) for f, hunks in grouped.values())


@dataclass(frozen=True)
class RequestShape:
    """How a batch's diff becomes a request, for exact counting."""

    overhead: int
    exact: Callable[[str], int]


Packed = list[tuple["Batch", list[Part]]]


def _pack(parts: list[Part], room: int, shape: RequestShape, limit: int, count: Callable[[str], int],
          dropped: dict[str, int]) -> Packed:
    """Bin the parts into batches whose exact request fits `limit`; count what fits none in `dropped`."""
    packed: Packed = []
    for group in _first_fit_decreasing(parts, room):
        merged = _merge_by_file(group)
        text = render_files(list(merged))
        exact = shape.exact(text)
        if exact > limit:
            # Token counts of pieces do not always add up to the count of the whole text: pack tighter.
            tighter = room - (exact - limit)
            if len(group) == 1:
                (part,) = group
                cut, lost = parts_of(replace(part.file, hunks=part.hunks), tighter, count, part.seq)
                dropped[part.file.path] = dropped.get(part.file.path, 0) + lost
                group = cut
            packed.extend(_pack(group, tighter, shape, limit, count, dropped))
            continue
        packed.append((Batch(0, merged, text, exact), group))
    return packed


def plan_batches(
    files: Sequence[FileDiff],
    *,
    counter: TokenCounter,
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
    files: list[FileDiff], room: int, counter: TokenCounter, shape: RequestShape, limit: int,
    affordable: Callable[[Sequence[Batch]], bool] | None, skipped: list[Skipped],
) -> list[Batch]:
    """Pack all files, or, when that is not affordable, the longest prefix by importance that is."""
    cut = [parts_of(f, room, counter.text) for f in files]
    dropped: dict[str, int] = {}

    def pack(n: int) -> Packed:
        dropped.clear()
        for file, (_, lost) in zip(files[:n], cut[:n]):
            dropped[file.path] = lost
        return _pack([p for parts, _ in cut[:n] for p in parts], room, shape, limit, counter.text, dropped)

    packed = pack(len(files))
    low = len(files)
    if affordable is not None and not affordable([b for b, _ in packed]):
        low, high = 0, len(files)
        while low < high:
            mid = (low + high + 1) // 2
            if affordable([b for b, _ in pack(mid)]):
                low = mid
            else:
                high = mid - 1
        packed = pack(low)
        skipped.extend(Skipped(f.path, SkipReason.OVER_BUDGET, f.changed_count) for f in files[low:])
    skipped.extend(Skipped(path, SkipReason.TOO_LARGE, n) for path, n in dropped.items() if n)
    return _ordered(packed)


def _ordered(packed: Packed) -> list[Batch]:
    """Put batches holding the most important files first, the parts of a file always in the file's order."""
    key = [min((priority(f.path), f.path) for f, _ in batch.parts) for batch, _ in packed]
    holders: dict[str, list[tuple[tuple[int, ...], int]]] = {}
    for n, (_, parts) in enumerate(packed):
        for part in parts:
            holders.setdefault(part.file.path, []).append((part.seq, n))
    after: list[set[int]] = [set() for _ in packed]
    for held in holders.values():
        chain = list(dict.fromkeys(n for _, n in sorted(held)))
        for first, then in zip(chain, chain[1:]):
            if first < then:  # packing puts a file's later parts in later batches, so this is always so
                after[first].add(then)
    waiting = [0] * len(packed)
    for targets in after:
        for n in targets:
            waiting[n] += 1
    ready = [(key[n], n) for n in range(len(packed)) if not waiting[n]]
    heapq.heapify(ready)
    out: list[Batch] = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(packed[n][0])
        for m in after[n]:
            waiting[m] -= 1
            if not waiting[m]:
                heapq.heappush(ready, (key[m], m))
    return out
