"""The shipped eval suite looks like real pull requests, so that location-blind reviewers score badly on it.

Every figure is computed from the case files through the project's own diff parser, so the suite cannot drift
from what issue 18 asks of it: size, mix, where the seeded lines sit, decoys, and the baselines' scores under
strict in-range scoring (a comment hits only when it cites a line inside a seeded range).
"""

from __future__ import annotations

import statistics
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from bot.core.diff import FileDiff, LineKind, Side
from bot.evaluation.suite import SHIPPED, Case, load_cases

SUITE = load_cases()
Anchor = tuple[str, Side, int]


@dataclass(frozen=True)
class Shape:
    """One case as the shape checks see it: its files, seeded ranges and decoy lines, read from the TOML."""

    case: Case
    ranges: tuple[tuple[str, Side, int, int], ...]
    decoys: tuple[Anchor, ...]

    @property
    def changed(self) -> int:
        """Return the case's changed lines, added plus removed."""
        return sum(f.changed_count for f in self.case.files)

    def hits(self, anchor: Anchor) -> bool:
        """Return whether a comment on this anchor cites a line inside one of the seeded ranges."""
        path, side, line = anchor
        return any(path == p and side is s and lo <= line <= hi for p, s, lo, hi in self.ranges)


def _shape(case: Case) -> Shape:
    data = tomllib.loads((SHIPPED / f"{case.spec.id}.toml").read_text(encoding="utf-8"))
    ranges = tuple((s["path"], Side(s.get("side", "RIGHT")), s["line"], s.get("end_line", s["line"]))
                   for s in data.get("seeded", []))
    decoys = tuple((d["path"], Side(d.get("side", "RIGHT")), d["line"]) for d in data.get("decoy", []))
    return Shape(case, ranges, decoys)


SHAPES = [_shape(c) for c in SUITE]
SEEDED = [s for s in SHAPES if not s.case.spec.clean]


def _added(file: FileDiff) -> list[int]:
    return [ln.line for h in file.hunks for ln in h.lines if ln.kind is LineKind.ADDED]


def _changed(case: Case) -> set[Anchor]:
    return {(f.path, ln.side, ln.line) for f in case.files for h in f.hunks for ln in h.lines if ln.changed}


Reviewer = Callable[[FileDiff], Iterable[int]]
REVIEWERS: dict[str, Reviewer] = {
    "first-line": lambda f: _added(f)[:1],
    "last-line": lambda f: _added(f)[-1:],
    "every-line": _added,
}


def _baseline(reviewer: Reviewer) -> tuple[float, float]:
    """Return a location-blind reviewer's recall (seeded cases found) and precision (hitting comments ÷ all)."""
    found = comments = hitting = 0
    for shape in SHAPES:
        anchors = [(f.path, Side.RIGHT, line) for f in shape.case.files for line in reviewer(f)]
        hit = [a for a in anchors if shape.hits(a)]
        comments, hitting = comments + len(anchors), hitting + len(hit)
        found += bool(hit) and not shape.case.spec.clean
    return found / len(SEEDED), hitting / comments


def test_the_suite_has_enough_seeded_and_clean_cases_classes_and_languages() -> None:
    assert len(SHAPES) >= 100 and len(SEEDED) >= 80 and len(SHAPES) - len(SEEDED) >= 20
    assert len({s.case.spec.kind for s in SEEDED}) >= 12
    languages = {s.case.spec.language for s in SHAPES}
    assert len(languages) >= 5 and {"python", "go"} <= languages and languages & {"javascript", "typescript"}
    assert len(languages & {"java", "rust", "csharp", "ruby", "php", "c"}) >= 2


def test_cases_are_the_size_and_spread_of_real_changes() -> None:
    assert statistics.median(s.changed for s in SHAPES) >= 40
    assert sum(len(s.case.files) > 1 for s in SHAPES) > len(SHAPES) / 2
    assert sum(sum(len(f.hunks) for f in s.case.files) > 1 for s in SHAPES) > len(SHAPES) / 2


def test_a_case_seeds_one_to_three_problems_on_changed_lines() -> None:
    for shape in SEEDED:
        assert 1 <= len(shape.ranges) <= 3, shape.case.spec.id
        changed = _changed(shape.case)
        for path, side, lo, hi in shape.ranges:
            assert lo <= hi and {(path, side, lo), (path, side, hi)} <= changed, shape.case.spec.id


def test_the_seeded_line_is_rarely_the_first_or_last_added_line_of_its_file() -> None:
    def at_an_edge(shape: Shape) -> bool:
        files = {f.path: f for f in shape.case.files}
        edges = [(p, Side.RIGHT, line) for p in {r[0] for r in shape.ranges} for line in
                 (_added(files[p])[:1] + _added(files[p])[-1:])]
        return any(shape.hits(a) for a in edges)

    assert sum(at_an_edge(s) for s in SEEDED) <= len(SEEDED) / 5


def test_decoys_sit_on_diff_lines_apart_from_the_seeded_ones_in_seeded_and_clean_cases() -> None:
    with_decoys = [s for s in SHAPES if s.decoys]
    assert len(with_decoys) >= 15
    assert any(s.case.spec.clean for s in with_decoys) and any(not s.case.spec.clean for s in with_decoys)
    for shape in with_decoys:
        lines = {(f.path, Side.RIGHT, ln.line) for f in shape.case.files for h in f.hunks for ln in h.lines
                 if ln.kind is not LineKind.REMOVED}
        for decoy in shape.decoys:
            assert decoy in lines and not shape.hits(decoy), (shape.case.spec.id, decoy)


@pytest.mark.parametrize(("name", "max_recall", "max_precision"), [
    ("first-line", 0.25, 1.0), ("last-line", 0.25, 1.0), ("every-line", 1.0, 0.10),
])
def test_location_blind_reviewers_score_badly(name: str, max_recall: float, max_precision: float) -> None:
    recall, precision = _baseline(REVIEWERS[name])
    assert recall <= max_recall and precision <= max_precision, (name, recall, precision)

