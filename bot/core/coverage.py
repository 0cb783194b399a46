"""What a review really covered: batches that failed, lines reviewed, files left out, comments dropped. Pure.

The CLI, the Action and the PR summary say "No problems found." only when every reviewable line was reviewed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from bot.core.batching import Plan
from bot.core.classify import SkipReason
from bot.core.reply import Dropped

MODEL_FAILED = "model-failed"


@dataclass(frozen=True)
class FailedBatch:
    """A batch whose model call failed for good."""

    number: int  # 1-based, as people count
    paths: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class Unreviewed:
    """A file (or part of one) the model never saw, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Coverage:
    """How much of a diff a review covered."""

    batches: int = 0
    failed: tuple[FailedBatch, ...] = ()
    changed_lines: int = 0  # changed lines of the files worth reviewing (not ignored, binary or secret)
    reviewed_lines: int = 0
    not_reviewed: tuple[Unreviewed, ...] = ()
    dropped: tuple[tuple[str, int], ...] = ()  # (reason, count) of comments not kept
    stopped: str = ""  # why no batch was even planned (the PR's budget is spent)
    not_run: int = 0  # batches the budget stopped before their call

    @property
    def answered(self) -> int:
        """Return how many batches the model answered."""
        return self.batches - len(self.failed) - self.not_run

    @property
    def state(self) -> str:
        """Return complete, partial, failed, nothing (nothing was reviewed) or empty (nothing to review)."""
        if self.failed:
            return "failed"
        if self.stopped or (self.reviewed_lines == 0 and (self.changed_lines or self.not_reviewed)):
            return "nothing"
        if not self.changed_lines and not self.not_reviewed:
            return "empty"
        left_out = any(u.reason in (SkipReason.OVER_BUDGET.value, SkipReason.NOT_LISTED.value, SkipReason.TOO_LARGE.value)
                       for u in self.not_reviewed)
        return "partial" if self.reviewed_lines < self.changed_lines or left_out else "complete"

    @property
    def reason(self) -> str:
        """Return why nothing (or not everything) was reviewed, in words."""
        if self.stopped:
            return self.stopped
        if self.failed:
            return f"{len(self.failed)} of {self.batches} batches failed"
        counts = Counter(u.reason for u in self.not_reviewed)
        if self.state == "nothing" and set(counts) == {SkipReason.OVER_BUDGET.value}:
            return "no batch fits the budget left"
        if self.state == "nothing":
            return "every changed file is skipped (" + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) + ")"
        if self.state == "partial":
            return f"{self.reviewed_lines} of {self.changed_lines} changed lines reviewed"
        return "no changed lines" if self.state == "empty" else ""

    @property
    def dropped_total(self) -> int:
        """Return how many comments were not kept."""
        return sum(n for _, n in self.dropped)

    def as_dict(self) -> dict[str, object]:
        """Return the coverage as JSON for the CLI and the Action."""
        return {
            "state": self.state,
            "reason": self.reason,
            "batches": self.batches,
            "answered_batches": self.answered,
            "failed_batches": [{"batch": f.number, "files": list(f.paths), "error": f.error} for f in self.failed],
            "changed_lines": self.changed_lines,
            "reviewed_lines": self.reviewed_lines,
            "not_reviewed": [{"path": u.path, "reason": u.reason} for u in self.not_reviewed],
            "dropped": dict(self.dropped),
        }


def measure(plan: Plan, *, failed: Mapping[int, tuple[str, Sequence[str]]], not_run: Collection[int],
            dropped: Sequence[Dropped], extra_drops: Sequence[str] = ()) -> Coverage:
    """Return what a run of this plan covered, given the failed batches (index: error and the files it cost,
    all of the batch's when none are named: a batch retried as halves may lose only one) and those never run."""
    reviewed: set[object] = set()
    left: list[Unreviewed] = [Unreviewed(s.path, s.reason.value) for s in plan.skipped]
    fails: list[FailedBatch] = []
    for batch in plan.batches:
        if batch.index in not_run:
            left.extend(Unreviewed(p, SkipReason.OVER_BUDGET.value) for p in batch.paths)
            continue
        error, lost = failed.get(batch.index, ("", ()))
        lost = tuple(lost) or (tuple(batch.paths) if batch.index in failed else ())
        if batch.index in failed:
            fails.append(FailedBatch(batch.index + 1, lost, error))
            left.extend(Unreviewed(p, MODEL_FAILED) for p in lost)
        reviewed |= {anchor for anchor in batch.changed_lines() if anchor[0] not in lost}
    counts = Counter([d.reason for d in dropped] + list(extra_drops))
    # dict.fromkeys: a file split over several failed batches is listed once.
    return Coverage(len(plan.batches), tuple(fails), plan.changed_lines, len(reviewed),
                    tuple(dict.fromkeys(left)), tuple(sorted(counts.items())),
                    not_run=sum(1 for b in plan.batches if b.index in not_run))
