"""Reply handling: anchoring, re-anchoring by quote, validation, merging, the cap, mentions."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.batching import Plan
from bot.core.diff import Side, parse_diff
from bot.core.merging import SUGGESTION_LEFT_OUT, finalise
from bot.core.reply import Comment, Dropped, neutralise_mentions, parse_reply
from bot.core.reply_reader import read_reply
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


# ---------------------------------------------------------------- any reply is data (issue 17, item 6)

NEW = "tests/typing/typing_route.py"  # a new file: lines 1.. are all added, in one hunk


def test_a_superscript_digit_or_a_huge_number_drops_that_comment_only(plan: Plan) -> None:
    good = {"path": NEW, "line": 4, "side": "RIGHT", "severity": "major", "body": "kept"}
    kept, dropped = _reply(plan, {**good, "line": "²"}, {**good, "line": 9 ** 40}, {**good, "start_line": "³"},
                           {**good, "line": " 5 "}, good)
    assert [(c.line, c.start_line) for c in kept] == [(4, None), (5, None), (4, None)]
    assert [d.reason for d in dropped] == ["malformed", "malformed"]
    digits = parse_reply('{"comments": [{"path": "%s", "line": %s, "body": "x"}, %s]}'
                         % (NEW, "7" * 5000, json.dumps(good)), plan.batches[0])  # int() refuses 4,300+ digits
    assert [c.line for c in digits[0]] == [4] and [d.reason for d in digits[1]] == ["malformed"]


@pytest.mark.parametrize("content", [
    "[" * 100_000 + "]" * 100_000,
    '{"comments": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"comments": [{"path": "x", "line": 1, "body": ' + "{\"a\": " * 50_000 + "1" + "}" * 50_000 + "}]}",
    "```json\n" + "{\"comments\": [" * 40 + "```",
])
def test_a_reply_nested_100000_deep_is_a_reasoned_drop(plan: Plan, content: str) -> None:
    kept, dropped = parse_reply(content, plan.batches[0])
    assert kept == [] and [d.reason for d in dropped] == ["malformed_reply"]
    assert "nests deeper than 32 levels" in dropped[0].detail or "no JSON object" in dropped[0].detail


def test_brackets_inside_strings_do_not_count_as_nesting(plan: Plan) -> None:
    body = "[" * 200 + '\\" {{{ "'
    kept, dropped = _reply(plan, {"path": NEW, "line": 4, "severity": "minor", "body": body})
    assert dropped == [] and kept[0].body == body


def test_a_reply_over_the_size_bound_is_not_parsed(plan: Plan) -> None:
    from bot.core.reply_reader import MAX_REPLY_CHARS

    content = json.dumps({"comments": [{"path": NEW, "line": 4, "body": "x" * MAX_REPLY_CHARS}]})
    kept, dropped = parse_reply(content, plan.batches[0])
    assert kept == [] and "over the 8,000,000 read" in dropped[0].detail


def test_hostile_field_types_are_dropped_with_reasons_and_lone_surrogates_are_replaced(plan: Plan) -> None:
    good = {"path": NEW, "line": 4, "side": "RIGHT", "severity": "major", "body": "ok"}
    kept, dropped = _reply(plan, {**good, "side": ["RIGHT"]}, {**good, "severity": {"x": [1]}},
                           {**good, "path": 7}, {**good, "body": ["x"]}, {**good, "line": True},
                           {**good, "quote": 3, "suggestion": [], "start_line": {}}, {**good, "body": "a\ud800b"})
    assert [d.reason for d in dropped] == ["malformed", "malformed", "malformed", "empty_body", "malformed"]
    assert [(c.line, c.suggestion) for c in kept] == [(4, None), (4, None)]
    assert kept[1].body.encode("utf-8") == b"a?b"


# Values a model (or an attacker steering it) could put in a reply: every JSON type, nested.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
SCALARS = st.none() | st.booleans() | st.floats() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)
FIELD_VALUES = (st.sampled_from([PATH, NEW, "RIGHT", "LEFT", "major", "nit", "²", "3", " 4 ", "-1", "", "\ud800"])
                | st.integers(-5, 40) | SCALARS)
ENTRIES = st.fixed_dictionaries({}, optional={k: FIELD_VALUES for k in (
    "path", "line", "start_line", "side", "severity", "body", "quote", "suggestion")})
REPLY_TEXT = st.one_of(
    st.text(),
    st.text(alphabet='{}[]",:\\ 0123456789²\n`acmnost'),
    st.builds(lambda pre, v, post: pre + json.dumps(v) + post, st.text(max_size=10), JSON_VALUES, st.text(max_size=10)),
)


def _each_entry_accounted(entries: list, kept: list, dropped: list) -> None:  # type: ignore[type-arg]
    assert all(isinstance(c, Comment) for c in kept) and all(isinstance(d, Dropped) for d in dropped)
    assert len(kept) + len(dropped) == len(entries)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=REPLY_TEXT)
def test_for_any_reply_string_parse_reply_never_raises(plan: Plan, content: str) -> None:
    kept, dropped = parse_reply(content, plan.batches[0])
    assert all(isinstance(c, Comment) for c in kept) and all(isinstance(d, Dropped) for d in dropped)
    assert kept or dropped or isinstance(read_reply(content), list)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(JSON_VALUES, max_size=6))
def test_for_any_json_each_entry_becomes_a_comment_or_a_drop(plan: Plan, entries: list) -> None:  # type: ignore[type-arg]
    kept, dropped = parse_reply(json.dumps({"comments": entries}), plan.batches[0])
    _each_entry_accounted(entries, kept, dropped)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRIES, max_size=4))
def test_for_hostile_field_types_each_entry_becomes_a_comment_or_a_drop(plan: Plan, entries: list) -> None:  # type: ignore[type-arg]
    kept, dropped = parse_reply(json.dumps({"comments": entries}), plan.batches[0])
    _each_entry_accounted(entries, kept, dropped)
    for c in kept:
        c.body.encode("utf-8")  # what is kept can be posted
        assert c.start_line is None or c.start_line < c.line


def test_past_10000_entries_the_rest_is_one_reasoned_drop(plan: Plan) -> None:
    kept, dropped = parse_reply(json.dumps({"comments": [{}] * 1_500_000}), plan.batches[0])  # 6 MB
    assert kept == [] and len(dropped) == 10_001 and dropped[-1].reason == "too_many_comments"
    assert dropped[-1].detail == "1,490,000 past the first 10,000 not read"


# ---------------------------------------------------------------- merging keeps range and suggestion together (item 7)

def test_a_suggestion_never_moves_onto_another_comments_range(plan: Plan) -> None:
    three = "a = 1\nb = 2\nc = 3"
    kept, _ = _reply(plan, {"path": NEW, "line": 3, "severity": "major", "body": "Major on line 3."},
                     {"path": NEW, "start_line": 1, "line": 3, "severity": "minor", "body": "Minor on 1-3.",
                      "suggestion": three})
    assert [(c.start_line, c.suggestion) for c in kept] == [(None, None), (1, three)]
    (merged,), _ = finalise(kept, max_comments=15)
    assert (merged.line, merged.start_line, merged.severity) == (3, None, Severity.MAJOR)
    assert merged.suggestion is None  # applying lines 1-3's text to line 3 alone would duplicate lines 1-2
    assert "Minor on 1-3." in merged.body and SUGGESTION_LEFT_OUT in merged.body
    same, _ = finalise([kept[1], replace(kept[0], start_line=1)], max_comments=15)
    assert [(c.start_line, c.suggestion, SUGGESTION_LEFT_OUT in c.body) for c in same] == [(1, three, False)]


def _range_text(start: int | None, line: int) -> str:
    return "\n".join(f"new {n}" for n in range(start or line, line + 1))


@st.composite
def _comments(draw: st.DrawFn) -> Comment:
    line = draw(st.integers(2, 5))
    start = draw(st.none() | st.integers(1, line - 1))
    return Comment(NEW, line, Side.RIGHT, draw(st.sampled_from(list(Severity))), draw(st.sampled_from("abc")), "q",
                   start, _range_text(start, line) if draw(st.booleans()) else None)


@settings(max_examples=200, deadline=None)
@given(comments=st.lists(_comments(), max_size=8))
def test_after_merging_every_suggestion_spans_exactly_its_own_range(comments: list[Comment]) -> None:
    merged, _ = finalise(comments, max_comments=100)
    for c in merged:
        assert c.suggestion is None or c.suggestion == _range_text(c.start_line, c.line)
        lost = {s.suggestion for s in comments if s.line == c.line and s.suggestion} - {c.suggestion}
        assert not lost or SUGGESTION_LEFT_OUT in c.body  # a suggestion left out is said so
