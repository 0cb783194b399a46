"""Severities of findings, most severe first."""

from __future__ import annotations

import enum


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
