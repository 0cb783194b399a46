"""The bot's memory: a signed marker on its summary's last line, fingerprints of a finding on its code."""

from __future__ import annotations

import pytest

from bot.core.diff import Side
from bot.core.marker import (
    SUMMARY_PREFIX,
    Marker,
    MarkerError,
    _sign,
    derive_key,
    fingerprint_in,
    fingerprint_line,
    parse_marker,
    path_digest,
)
from bot.core.reply import Comment
from bot.core.severity import Severity
from bot.core.summary import finding_code, print_of

KEY = derive_key("operator-secret")


def test_a_signed_marker_round_trips_and_any_edit_breaks_it() -> None:
    marker = Marker(head="c" * 40, reviews=2, cost_usd=0.0031, fingerprints=("a" * 32,))
    body = "### mistral-review\n\nsome table\n\n" + marker.line(KEY)
    assert parse_marker(body, KEY) == marker
    edited = body.replace('"cost_usd":0.0031', '"cost_usd":0.0')
    with pytest.raises(MarkerError, match="signature"):
        parse_marker(edited, KEY)
    with pytest.raises(MarkerError, match="signature"):
        parse_marker(body, derive_key("another-secret"))


def test_a_marker_is_read_only_from_the_last_line() -> None:
    marker = Marker(head="c" * 40, reviews=1)
    assert parse_marker(marker.line(KEY) + "\n\n- `x.lock`: generated", KEY) is None
    assert fingerprint_in(fingerprint_line("b" * 32) + "\ntrailing text") is None
    assert fingerprint_in("text\n\n" + fingerprint_line("b" * 32)) == "b" * 32


def test_owed_files_are_named_by_digest_and_a_marker_written_before_them_still_reads() -> None:
    hostile = "docs/x.md --> <b>visible</b>\nnext line"
    marker = Marker(head="c" * 40, pending=(path_digest(hostile), path_digest("src/a.py")))
    line = marker.line(KEY)
    assert "-->" not in line[:-3] and "\n" not in line and parse_marker(line, KEY) == marker
    older = '{"completion_tokens":0,"cost_usd":0.0,"estimated":false,"fingerprints":[],"head":null,"prompt_tokens":0,"reviews":0,"v":2}'
    assert parse_marker(f"{SUMMARY_PREFIX}{older} sig={_sign(KEY, older)} -->", KEY) == Marker()
    planted = older.replace('"head":null', '"head":null,"pending":["src/evil.py"]')
    with pytest.raises(MarkerError, match="pending"):
        parse_marker(f"{SUMMARY_PREFIX}{planted} sig={_sign(KEY, planted)} -->", KEY)


def test_an_unsigned_marker_of_the_old_format_is_refused() -> None:
    with pytest.raises(MarkerError):
        parse_marker('<!-- mistral-review:summary {"v":1,"cost_usd":0} -->', KEY)


def _at(line: int, body: str = "Error is swallowed.", start: int | None = None) -> Comment:
    return Comment("svc/handler.go", line, Side.RIGHT, Severity.MAJOR, body, "", start_line=start)


def _index(lines: dict[int, str]) -> dict[tuple[str, Side, int], str]:
    return {("svc/handler.go", Side.RIGHT, n): text for n, text in lines.items()}


def test_the_same_quote_with_another_finding_is_another_fingerprint() -> None:
    index = _index({10: "\treturn nil, err", 40: "\treturn nil, err"})
    assert print_of(KEY, index, _at(10)) != print_of(KEY, index, _at(40, body="The caller never closes the file."))


def test_the_same_finding_on_the_same_code_is_the_same_fingerprint_wherever_it_moved() -> None:
    before = _index({10: "if err != nil {", 11: "\treturn nil, err"})
    after = _index({52: "if err != nil {", 53: "    return nil, err"})
    assert print_of(KEY, before, _at(11)) == print_of(KEY, after, _at(53, body="error is swallowed"))


def test_trivial_lines_never_key_alone() -> None:
    index = _index({5: "func a() {", 6: "\tclose(x)", 7: "}", 20: "func b() {", 21: "\topen(y)", 22: "}", 23: ""})
    assert finding_code(index, _at(7)) == ["\tclose(x)", "}"]
    assert print_of(KEY, index, _at(7)) != print_of(KEY, index, _at(22))
    assert finding_code(index, _at(23)) == ["\topen(y)", "}", ""]


def test_a_fingerprint_needs_the_key() -> None:
    index = _index({10: "\treturn nil, err"})
    assert print_of(KEY, index, _at(10)) != print_of(derive_key("guess"), index, _at(10))
