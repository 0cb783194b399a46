"""Batching on every real diff: full coverage, every batch within budget, same input same batches."""

from __future__ import annotations

import pytest

from bot.core.batching import Limits, Plan
from bot.core.classify import DEFAULT_IGNORE, SkipReason
from bot.core.diff import parse_diff
from bot.core.settings import Settings
from bot.llm.tokens import TekkenCounter
from bot.review.engine import build_shape, plan_review
from bot.review.prompting import Prompts
from tests.conftest import DIFFS, diff_bytes


def _plan(name: str, counter: TekkenCounter, prompts: Prompts, **values: object) -> Plan:
    settings = Settings().with_values(values)
    return plan_review(parse_diff(diff_bytes(name)), settings, counter=counter, prompts=prompts)


def _reviewable_changed(name: str, ignore: tuple[str, ...]) -> set[tuple[str, str, int]]:
    from bot.core.classify import file_skip_reason

    return {(f.path, ln.side.value, ln.line) for f in parse_diff(diff_bytes(name))
            if file_skip_reason(f, ignore=ignore) is None for h in f.hunks for ln in h.lines if ln.changed}


@pytest.mark.parametrize("request_tokens", [24_000, 8_000])
@pytest.mark.parametrize("path", DIFFS, ids=lambda p: p.name)
def test_every_changed_line_is_covered_and_every_batch_fits(path, request_tokens, counter, prompts) -> None:  # type: ignore[no-untyped-def]
    ignore = () if "huge" in path.name else DEFAULT_IGNORE
    plan = _plan(path.name, counter, prompts, request_tokens=request_tokens, ignore=ignore)
    limits = Limits(request_tokens, 4_000)
    settings = Settings().with_values({"request_tokens": request_tokens})
    request = build_shape(prompts, counter, settings)
    covered: set[tuple[str, str, int]] = set()
    for batch in plan.batches:
        exact = request.exact(batch.diff_text)
        assert exact == batch.input_tokens <= limits.request_tokens - limits.output_tokens
        covered |= {(p, s.value, n) for p, s, n in batch.changed_lines()}
    assert covered == _reviewable_changed(path.name, ignore)
    assert plan.covered_lines == plan.changed_lines == len(covered)


def test_lines_appear_once_except_where_a_huge_hunk_was_split(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    plan = _plan("deleted-file.diff", counter, prompts, request_tokens=6_000)
    assert len(plan.batches) > 1  # 298 removed lines do not fit one small request
    seen: list[int] = [ln.line for b in plan.batches for _, hunks in b.parts for h in hunks for ln in h.lines]
    assert set(seen) == set(range(1, 299))
    assert len(seen) - 298 <= 3 * (len(plan.batches) - 1)  # only the overlap repeats


def test_same_input_same_batches(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    first = _plan("medium-multi-file.diff", counter, prompts, request_tokens=8_000)
    second = _plan("medium-multi-file.diff", counter, prompts, request_tokens=8_000)
    assert [(b.paths, b.input_tokens, b.diff_text) for b in first.batches] == \
        [(b.paths, b.input_tokens, b.diff_text) for b in second.batches]


def test_a_files_hunks_stay_together_when_they_fit(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    plan = _plan("medium-multi-file.diff", counter, prompts)
    paths = [p for b in plan.batches for p in b.paths]
    assert len(paths) == len(set(paths)) == 24


def test_what_is_not_sent_is_listed_with_its_reason(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    reasons = {s.path: s.reason for s in _plan("binary-file.diff", counter, prompts).skipped}
    assert reasons == {"docs/_static/pycharm-runconfig.png": SkipReason.BINARY}
    env = {s.path: s.reason for s in _plan("non-ascii-utf8.diff", counter, prompts).skipped}
    assert env == {"tests/test_apps/.env": SkipReason.SECRET_FILE}
    vendored = _plan("huge-commit-vendoring.diff", counter, prompts, ignore=["requests/packages/**"])
    assert {s.reason for s in vendored.skipped} == {SkipReason.IGNORED}
    assert all(p.startswith("requests/packages/") for p in (s.path for s in vendored.skipped))


def test_a_budget_keeps_source_before_tests_and_docs(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    files = parse_diff(diff_bytes("binary-file.diff")) + parse_diff(diff_bytes("new-file.diff")) \
        + parse_diff(diff_bytes("tiny-one-line-fix.diff"))
    settings = Settings().with_values({"request_tokens": 6_000})
    full = plan_review(files, settings, counter=counter, prompts=prompts)
    one = min(b.input_tokens for b in full.batches) * 0.15e-6 + 4_000 * 0.6e-6
    tight = plan_review(files, settings, counter=counter, prompts=prompts, budget_left_usd=one * 1.01)
    sent = [p for b in tight.batches for p in b.paths]
    assert "src/requests/utils.py" in sent and "docs/cli.rst" not in sent
    assert {s.path for s in tight.skipped if s.reason is SkipReason.OVER_BUDGET} >= {"docs/cli.rst"}


def test_a_line_larger_than_the_room_is_listed_never_sent_over_the_limit(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    lines = ["def ok():", "    return 1", "BLOB = '" + " ".join(f"w{i}" for i in range(12_000)) + "'", "x = 2"]
    body = "".join(f"+{line}\n" for line in lines)
    diff = f"--- /dev/null\n+++ b/src/data.py\n@@ -0,0 +1,{len(lines)} @@\n{body}"
    settings = Settings().with_values({"request_tokens": 8_000})
    plan = plan_review(parse_diff(diff), settings, counter=counter, prompts=prompts)
    assert plan.batches and all(b.input_tokens <= settings.limits.input_tokens for b in plan.batches)
    sent = {ln.text for b in plan.batches for _, hunks in b.parts for h in hunks for ln in h.lines}
    assert sent == {"def ok():", "    return 1", "x = 2"}
    assert [(s.path, s.reason, s.changed_lines) for s in plan.skipped] == [("src/data.py", SkipReason.TOO_LARGE, 1)]
    assert (plan.covered_lines, plan.changed_lines) == (3, 4)


def test_a_file_cut_over_several_batches_keeps_its_hunks_in_order(counter, prompts) -> None:  # type: ignore[no-untyped-def]
    plan = _plan("huge-commit-vendoring.diff", counter, prompts, ignore=())
    order = {(f.path, ln.side, ln.line): i for f in parse_diff(diff_bytes("huge-commit-vendoring.diff"))
             for i, ln in enumerate(ln for h in f.hunks for ln in h.lines if ln.changed)}
    last: dict[str, int] = {}
    for batch in plan.batches:
        for file, hunks in batch.parts:
            for line in (ln for h in hunks for ln in h.lines if ln.changed):
                here = order[(file.path, line.side, line.line)]
                assert here > last.get(file.path, -1), (file.path, line.line)
                last[file.path] = here
