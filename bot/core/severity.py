"""Severities of findings, most severe first."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from typing import Protocol


class Severity(str, enum.Enum):
    """How bad a finding is."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    NIT = "nit"

    @property
    def rank(self) -> int:
        """Return 0 for the most severe, higher for milder."""
        return list(Severity).index(self)

    def at_least(self, floor: Severity) -> bool:
        """Return whether this severity is as bad as `floor` or worse."""
        return self.rank <= floor.rank


class _Rated(Protocol):
    @property
    def severity(self) -> Severity: ...


def severity_counts(items: Iterable[_Rated]) -> str:
    """Return e.g. `1 critical, 2 minor`, most severe first."""
    tally = Counter(item.severity for item in items)
    return ", ".join(f"{tally[s]} {s.value}" for s in Severity if tally[s]) or "none"
