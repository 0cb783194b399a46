"""The change model gives every fixture diff the rows and positions the code before it gave, on both hosts.

The expected figures were frozen from the earlier code (tests/fixtures/positions/README.md says how).
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.changes import Positions, read_listed, rows
from bot.core.diff import FileDiff, FileStatus, LineKind, Side, parse_diff
from bot.core.reply import Comment, Severity
from bot.hosts.github.files import listed_file as github_listed
from bot.hosts.gitlab.merge_request import listed_file as gitlab_listed
from bot.hosts.gitlab.positions import line_code, position
from tests.conftest import FIXTURES
from tests.mergerequests import entries_from_diff
from tests.pullrequests import files_from_diff

REFS = {"base_sha": "b" * 40, "start_sha": "s" * 40, "head_sha": "c" * 40}
DIFFS = FIXTURES / "diffs"
NAMES = sorted(p.name for p in DIFFS.glob("*.diff"))


@cache
def expected() -> dict[str, Any]:
    return json.loads(gzip.decompress((FIXTURES / "positions" / "expected.json.gz").read_bytes()))


def described(file: FileDiff) -> dict[str, Any]:
    """A file as the frozen figures describe it: names, status, and each row's numbers and GitHub anchor."""
    numbered = [[r.row.kind.value, r.row.old_no, r.row.new_no, r.row.side.value, r.row.line, i]
                for i, hunk in enumerate(file.hunks) for r in rows(FileDiff("", None, file.status, (hunk,)))]
    return {"path": file.path, "old_path": file.old_path, "status": file.status.value, "binary": file.binary,
            "rows": numbered}


def compact(where: dict[str, Any] | None) -> list[Any] | None:
    """A position as the frozen figures hold it (bot/hosts/gitlab/positions.py's dict, losslessly)."""
    if where is None:
        return None
    assert {k: where[k] for k in REFS} == REFS and where["position_type"] == "text"
    points = where.get("line_range")
    ends = [[p[k] for k in ("line_code", "type", "old_line", "new_line")]
            for p in (points["start"], points["end"])] if points else None
    return [sorted(where), where["old_path"], where["new_path"], where.get("old_line"), where.get("new_line"), ends]


def test_the_frozen_figures_cover_every_fixture_diff() -> None:
    assert sorted(expected()) == NAMES and len(NAMES) >= 14


@pytest.mark.parametrize("name", NAMES)
def test_local_git_diffs_and_github_patches_give_the_same_rows_and_anchors_as_before(name: str) -> None:
    text = (DIFFS / name).read_text(encoding="utf-8", errors="replace")
    assert [described(f) for f in parse_diff((DIFFS / name).read_bytes())] == expected()[name]["git"]
    assert [described(read_listed(github_listed(e))) for e in files_from_diff(text)] == expected()[name]["github"]


def _gitlab(entries: list[dict[str, Any]], frozen: list[dict[str, Any]]) -> None:
    listed = [gitlab_listed(e) for e in entries]
    lines = Positions(listed)
    assert len(listed) == len(frozen)
    for file, want in zip(listed, frozen):
        flags = want["entry_flags"]
        assert (file.too_large, file.collapsed) == (bool(flags["too_large"]) and not file.patch,
                                                    bool(flags["collapsed"]) and not file.patch)
        flow = want["flow_entry"]
        assert (file.path, file.status.value) == (flow["filename"], flow["status"])
        assert file.patch == flow.get("patch", "") and file.changes == flow.get("additions", 0) + flow.get("deletions", 0)
        assert (described(read_listed(file)) if file.patch else None) == want["file"]
        assert [line_code(r) for r in rows(read_listed(file))] == want["line_codes"]
        for where in want["positions"]:
            side, line, start = Side(where["side"]), where["line"], where["range_from"]
            single = Comment(file.path, line, side, Severity("minor"), "b", "q")
            ranged = Comment(file.path, line, side, Severity("minor"), "b", "q", start_line=start)
            assert compact(position(single, REFS, lines)) == where["single"]
            assert compact(position(ranged, REFS, lines)) == where["range"]


@pytest.mark.parametrize("name", NAMES)
def test_gitlab_entries_give_the_same_flow_files_positions_and_line_codes_as_before(name: str) -> None:
    entries = entries_from_diff((DIFFS / name).read_text(encoding="utf-8", errors="replace"))
    _gitlab(entries, expected()[name]["gitlab"])
    hidden = [{**e, "diff": "", flag: True} for e in entries[:1] for flag in ("too_large", "collapsed")]
    _gitlab(hidden, expected()[name]["gitlab_hidden"])


def test_every_row_has_a_position_on_both_hosts_and_context_rows_on_either_side() -> None:
    entry = entries_from_diff((DIFFS / "medium-multi-file.diff").read_text(encoding="utf-8"))[1]
    lines = Positions([gitlab_listed(entry)])
    file = read_listed(gitlab_listed(entry))
    context = next(r for r in rows(file) if r.row.kind is LineKind.CONTEXT)
    assert lines.at(file.path, Side.RIGHT, context.row.new_no or 0) == context
    assert lines.at(file.path, Side.LEFT, context.row.old_no or 0) == context  # a context row on the old side too
    assert lines.at(file.path, Side.RIGHT, 10**6) is None and lines.at("not/in/the/diff", Side.RIGHT, 1) is None
    assert file.status is FileStatus.MODIFIED


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from("+- "), min_size=1, max_size=12), min_size=1, max_size=4),
       st.integers(min_value=1, max_value=50))
def test_any_hunks_give_each_row_gitlabs_numbers_and_counters(hunks: list[list[str]], gap: int) -> None:
    """Count the rows as GitLab's parser does (an independent count) and compare with the model's."""
    text, want, old, new = [], [], 1, 1
    for kinds in hunks:
        olds, news = sum(k != "+" for k in kinds), sum(k != "-" for k in kinds)
        text.append(f"@@ -{old},{olds} +{new},{news} @@")
        for i, kind in enumerate(kinds):
            text.append(f"{kind}row {i}")
            want.append((kind, None if kind == "+" else old, None if kind == "-" else new, old, new))
            old, new = old + (kind != "+"), new + (kind != "-")
        old, new = old + gap, new + gap
    listed = gitlab_listed({"diff": "\n".join(text) + "\n", "new_path": "a.py", "old_path": "a.py"})
    found = rows(read_listed(listed))
    assert [(r.row.kind.value, r.row.old_no, r.row.new_no, r.old_at, r.new_at) for r in found] == want
    lines = Positions([listed])
    for r in found:
        assert lines.at("a.py", r.row.side, r.row.line) == r
