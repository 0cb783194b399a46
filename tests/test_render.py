"""Rendering: only a run's first changed line is numbered, and counting as the prompt says recovers every anchor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.diff import LineKind, parse_diff
from bot.core.render import render_files
from tests.conftest import DIFFS

NUMBERED = re.compile(r"^([+-])(\d+)\|")


def _read_as_the_prompt_says(text: str) -> list[tuple[str, str, int]]:
    """Return (path, side, number) of every changed line, counting on from each run's first number."""
    found: list[tuple[str, str, int]] = []
    path, new, old, previous = "", 0, 0, ""
    for row in text.splitlines():
        if row.startswith("### "):
            path = row[4:].split(" (", 1)[0]
        elif row.startswith("@@ +"):
            new, previous = int(row[4:].split(" ", 1)[0]), ""
        elif row[:1] in "+-" and row:
            if (m := NUMBERED.match(row)) and row[0] != previous:
                number = int(m[2])
            else:
                assert row[0] == previous, f"an unnumbered line opens a run: {row!r}"
                number = (new if row[0] == "+" else old)
            if row[0] == "+":
                found.append((path, "RIGHT", number))
                new = number + 1
            else:
                found.append((path, "LEFT", number))
                old = number + 1
            previous = row[0]
        else:
            new, previous = new + 1, ""
    return found


@pytest.mark.parametrize("diff", DIFFS, ids=lambda p: p.stem)
def test_counting_on_from_each_runs_first_number_recovers_every_anchor(diff: Path) -> None:
    files = [f for f in parse_diff(diff.read_bytes()) if f.hunks]
    text = render_files([(f, f.hunks) for f in files])
    truth = [(f.path, ln.side.value, ln.line) for f in files for h in f.hunks for ln in h.lines if ln.changed]
    assert _read_as_the_prompt_says(text) == truth
    runs = sum(1 for f in files for h in f.hunks for i, ln in enumerate(h.lines)
               if ln.changed and (i == 0 or h.lines[i - 1].kind is not ln.kind))
    assert sum(1 for row in text.splitlines() if NUMBERED.match(row)) == runs


def test_a_run_of_removed_lines_then_added_lines_numbers_each_runs_first_line() -> None:
    (file,) = [f for f in parse_diff((DIFFS[0].parent / "tiny-one-line-fix.diff").read_bytes())]
    text = render_files([(file, file.hunks)])
    removed, added = (ln for ln in file.hunks[0].lines if ln.kind is not LineKind.CONTEXT)
    assert f"\n-{removed.line}|{removed.text}\n+{added.line}|{added.text}\n" in text
    assert text.startswith("### src/requests/utils.py\n@@ +1051 @@ def _validate_header_part(")
