"""Reply handling: anchoring, re-anchoring by quote, validation, merging, the cap, mentions."""

from __future__ import annotations

import json

import pytest

from bot.core.batching import Plan
from bot.core.diff import Side, parse_diff
from bot.core.reply import finalise, neutralise_mentions, parse_reply
from bot.core.settings import Settings
from bot.core.severity import Severity
from bot.llm.tokens import TekkenCounter
from bot.review.engine import plan_review
from bot.review.prompting import Prompts
from tests.conftest import diff_bytes

PATH = "src/requests/utils.py"


@pytest.fixture()
def plan(counter: TekkenCounter, prompts: Prompts) -> Plan:
    files = parse_diff(diff_bytes("tiny-one-line-fix.diff")) + parse_diff(diff_bytes("new-file.diff"))
    return plan_review(files, Settings(), counter=counter, prompts=prompts)


def _lines(plan: Plan, path: str):  # type: ignore[no-untyped-def]
    return [ln for b in plan.batches for f, hs in b.parts if f.path == path for h in hs for ln in h.lines]


def _reply(plan: Plan, *comments: dict) -> tuple[list, list]:  # type: ignore[type-arg]
    return parse_reply(json.dumps({"comments": list(comments)}), plan.batches[0])


def test_a_comment_on_an_added_line_is_kept(plan: Plan) -> None:
    added = next(ln for ln in _lines(plan, PATH) if ln.kind.value == "+")
    kept, dropped = _reply(plan, {"path": PATH, "line": added.line, "side": "RIGHT", "severity": "major",
                                  "body": "Wrong.", "quote": added.text})
    assert dropped == [] and [(c.path, c.line, c.side) for c in kept] == [(PATH, added.line, Side.RIGHT)]


def test_a_line_number_off_by_two_is_reanchored_by_its_quote(plan: Plan) -> None:
    added = next(ln for ln in _lines(plan, PATH) if ln.kind.value == "+")
    kept, dropped = _reply(plan, {"path": PATH, "line": added.line - 2, "side": "RIGHT", "severity": "minor",
                                  "body": "Typo.", "quote": "  " + added.text.strip() + " "})
    assert dropped == [] and kept[0].line == added.line


def test_a_quote_that_matches_nothing_drops_the_comment(plan: Plan) -> None:
    added = next(ln for ln in _lines(plan, PATH) if ln.kind.value == "+")
    kept, dropped = _reply(plan, {"path": PATH, "line": added.line, "side": "RIGHT", "severity": "minor",
                                  "body": "x", "quote": "this text is nowhere"})
    assert kept == [] and dropped[0].reason == "quote_not_found"


@pytest.mark.parametrize(("entry", "reason"), [
    ({"path": "nope.py", "line": 1, "side": "RIGHT", "severity": "major", "body": "x"}, "path_not_in_batch"),
    ({"path": PATH, "line": 9999, "side": "RIGHT", "severity": "major", "body": "x"}, "line_not_in_diff"),
    ({"path": PATH, "line": 1, "side": "RIGHT", "severity": "major", "body": "  "}, "empty_body"),
    ({"path": PATH, "side": "RIGHT", "severity": "major", "body": "x"}, "malformed"),
    ({"path": PATH, "line": 1, "side": "RIGHT", "severity": "awful", "body": "x"}, "malformed"),
])
def test_invalid_comments_are_dropped_with_a_reason(plan: Plan, entry: dict, reason: str) -> None:  # type: ignore[type-arg]
    kept, dropped = _reply(plan, entry)
    assert kept == [] and [d.reason for d in dropped] == [reason]


def test_suggestions_on_left_lines_and_ranges_across_hunks_are_dropped(plan: Plan) -> None:
    removed = next(ln for ln in _lines(plan, PATH) if ln.kind.value == "-")
    kept, dropped = _reply(plan, {"path": PATH, "line": removed.line, "side": "LEFT", "severity": "major",
                                  "body": "x", "suggestion": "y"})
    assert kept == [] and dropped[0].reason == "suggestion_on_left"
    new = "tests/typing/typing_route.py"
    kept, dropped = _reply(plan, {"path": new, "start_line": 10, "line": 5, "side": "RIGHT",
                                  "severity": "major", "body": "x"})
    assert dropped[0].reason == "bad_range"


def test_malformed_json_costs_only_that_batch(plan: Plan) -> None:
    kept, dropped = parse_reply("{not json", plan.batches[0])
    assert kept == [] and dropped[0].reason == "malformed_reply"


def test_duplicates_merge_and_the_cap_keeps_the_most_severe(plan: Plan) -> None:
    new = "tests/typing/typing_route.py"
    entries = [{"path": new, "line": n, "side": "RIGHT", "severity": sev, "body": f"issue {n}"}
               for n, sev in [(3, "nit"), (4, "critical"), (5, "minor"), (6, "major")]]
    entries.append({"path": new, "line": 4, "side": "RIGHT", "severity": "minor", "body": "issue 4 again"})
    kept, _ = _reply(plan, *entries)
    final, dropped = finalise(kept, max_comments=2)
    assert [(c.line, c.severity) for c in final] == [(4, Severity.CRITICAL), (6, Severity.MAJOR)]
    assert "issue 4 again" in final[0].body
    assert {d.reason for d in dropped} == {"over_max_comments"}
    floor, below = finalise(kept, max_comments=15, min_severity=Severity.MAJOR)
    assert {c.line for c in floor} == {4, 6} and len(below) == 2


def test_mentions_cannot_ping_anyone() -> None:
    text = neutralise_mentions("ask @octocat or @org/team, not `@code` or a@b.c")
    assert "@octocat" not in text and "@org/team" not in text and "`@code`" in text and "a@b.c" in text


SCAFFOLD = "src/flask/sansio/scaffold.py"


@pytest.fixture()
def medium(counter: TekkenCounter, prompts: Prompts) -> Plan:
    return plan_review(parse_diff(diff_bytes("medium-multi-file.diff")), Settings(), counter=counter, prompts=prompts)


def _scaffold_reply(plan: Plan, **entry: object) -> tuple[list, list]:  # type: ignore[type-arg]
    batch = next(b for b in plan.batches if SCAFFOLD in b.paths)
    return parse_reply(json.dumps({"comments": [{"path": SCAFFOLD, "severity": "major", "body": "x", **entry}]}), batch)


def test_a_right_citation_whose_quote_also_matches_a_deleted_line_stays_right(medium: Plan) -> None:
    # RIGHT 738 is `if root_spec.submodule_search_locations:`; "# namespace package" is removed LEFT 738
    # and added RIGHT 740: the cited side wins, and start_line moves with line in the new file's numbering.
    kept, dropped = _scaffold_reply(medium, line=738, start_line=737, side="RIGHT", quote="# namespace package")
    assert dropped == []
    assert [(c.side, c.line, c.start_line, c.quote.strip()) for c in kept] == \
        [(Side.RIGHT, 740, 739, "# namespace package")]


def test_a_quote_found_only_on_the_other_side_moves_there_and_keeps_the_last_line_only(medium: Plan) -> None:
    quote = 'if root_spec.origin is None or root_spec.origin == "namespace":'
    kept, dropped = _scaffold_reply(medium, line=752, start_line=750, side="LEFT", quote=quote)
    assert dropped == [] and [(c.side, c.line, c.start_line) for c in kept] == [(Side.RIGHT, 739, None)]


def test_a_left_citation_keeps_its_side_when_its_quote_is_there(medium: Plan) -> None:
    kept, _ = _scaffold_reply(medium, line=741, side="LEFT", quote="# namespace package")
    assert [(c.side, c.line) for c in kept] == [(Side.LEFT, 738)]


def test_a_citation_counted_inside_a_run_is_anchored_by_its_quote(medium: Plan) -> None:
    # only the run's first line is numbered (RIGHT 738): the model miscounts its eighth line (745) as 747
    quote = "package_path = pathlib.Path("
    kept, dropped = _scaffold_reply(medium, line=747, side="RIGHT", quote=quote)
    assert dropped == [] and [(c.side, c.line) for c in kept] == [(Side.RIGHT, 745)]


@pytest.mark.parametrize("wrap", ["```json\n{}\n```", "Here is my review:\n{}", "{} trailing words"])
def test_a_fenced_or_wrapped_json_object_is_read(plan: Plan, wrap: str) -> None:
    added = next(ln for ln in _lines(plan, PATH) if ln.kind.value == "+")
    reply = json.dumps({"comments": [{"path": PATH, "line": added.line, "side": "RIGHT", "severity": "minor",
                                      "body": "x", "quote": added.text}]})
    kept, dropped = parse_reply(wrap.replace("{}", reply), plan.batches[0])
    assert dropped == [] and [c.line for c in kept] == [added.line]


def test_a_cut_reply_is_malformed(plan: Plan) -> None:
    kept, dropped = parse_reply('{"comments": [{"path": "a.py", "line": 3, "bo', plan.batches[0])
    assert kept == [] and [d.reason for d in dropped] == ["malformed_reply"]
