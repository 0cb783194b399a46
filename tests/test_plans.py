"""The dry-run plan of every fixture diff is what `main` gave before the package split (tests/fixtures/plans).

A deliberate change to batching or rendering regenerates these files in the same commit and says why.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import DIFFS, FIXTURES


@pytest.mark.parametrize("diff", DIFFS, ids=lambda p: p.stem)
def test_dry_run_plan_matches_the_saved_one(diff: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["review", "--dry-run", "--format", "json", "--diff-file", str(diff)], env={}, out=out, err=err)
    assert code == 0, err.getvalue()
    saved = json.loads((FIXTURES / "plans" / f"{diff.stem}.json").read_text(encoding="utf-8"))
    assert json.loads(out.getvalue()) == saved
