"""For any files and limits: no batch over its limit, each changed line sent once or listed, hunks in file order.

The planner runs with a cheap counter (a token per four characters) whose whole-request count is a little
more than the sum of its pieces, as Tekken's can be, so the re-packing path is exercised too.
"""

from __future__ import annotations

from collections import Counter as Tally

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.batching import Limits, RequestShape, plan_batches
from bot.core.classify import SkipReason
from bot.core.diff import DiffLine, FileDiff, FileStatus, Hunk, LineKind

OVERHEAD = 40


class Quarters:
    """A token per four characters, rounded up."""

    def text(self, text: str) -> int:
        """Return the tokens of a piece of text."""
        return -(-len(text) // 4)

    def request(self, system: str, user: str) -> int:
        """Return the tokens of a whole request."""
        return self.text(system + user)


def _exact(diff: str) -> int:
    return OVERHEAD + -(-len(diff) // 4) + diff.count("@@") // 2  # a whole is a little more than its pieces


@st.composite
def hunks(draw: st.DrawFn, old_start: int, new_start: int) -> Hunk:
    kinds = draw(st.lists(st.sampled_from(list(LineKind)), min_size=1, max_size=25))
    lines, old, new = [], old_start, new_start
    for kind in kinds:
        text = "w" * draw(st.sampled_from([0, 3, 20, 80, 400, 3000]))
        lines.append(DiffLine(kind, text, None if kind is LineKind.ADDED else old,
                              None if kind is LineKind.REMOVED else new))
        old += kind is not LineKind.ADDED
        new += kind is not LineKind.REMOVED
    return Hunk(old_start, old - old_start, new_start, new - new_start, draw(st.sampled_from(["", "def f():"])),
                tuple(lines))


@st.composite
def files(draw: st.DrawFn, index: int) -> FileDiff:
    found, old, new = [], 1, 1
    for _ in range(draw(st.integers(1, 4))):
        hunk = draw(hunks(old, new))
        found.append(hunk)
        gap = draw(st.integers(1, 50))
        old, new = old + hunk.old_len + gap, new + hunk.new_len + gap
    return FileDiff(f"src/m{index}.py", f"src/m{index}.py", FileStatus.MODIFIED, tuple(found))


file_sets = st.integers(1, 5).flatmap(lambda n: st.tuples(*(files(i) for i in range(n))))


@settings(max_examples=100, deadline=None)
@given(file_sets, st.integers(450, 2_500))
def test_every_changed_line_is_sent_once_or_listed_and_no_batch_is_over(given_files: tuple[FileDiff, ...],
                                                                         request_tokens: int) -> None:
    limits = Limits(request_tokens, 100)
    plan = plan_batches(list(given_files), counter=Quarters(), shape=RequestShape(_exact(""), _exact), limits=limits,
                        ignore=[])
    sent: Tally[tuple[str, int, int]] = Tally()
    for batch in plan.batches:
        assert batch.input_tokens == _exact(batch.diff_text) <= limits.input_tokens
        for file, file_hunks in batch.parts:
            sent.update((file.path, h_line.old_no or 0, h_line.new_no or 0)
                        for hunk in file_hunks for h_line in hunk.lines if h_line.changed)
    assert all(n == 1 for n in sent.values())
    listed = Tally({s.path: s.changed_lines for s in plan.skipped if s.reason is SkipReason.TOO_LARGE})
    for file in given_files:
        changed = {(file.path, ln.old_no or 0, ln.new_no or 0) for h in file.hunks for ln in h.lines if ln.changed}
        missing = changed - set(sent)
        assert set(sent) & changed <= changed and len(missing) == listed[file.path]
    assert plan.covered_lines + sum(listed.values()) == plan.changed_lines


@settings(max_examples=100, deadline=None)
@given(file_sets, st.integers(450, 2_500))
def test_a_files_hunks_arrive_in_file_order(given_files: tuple[FileDiff, ...], request_tokens: int) -> None:
    plan = plan_batches(list(given_files), counter=Quarters(), shape=RequestShape(_exact(""), _exact),
                        limits=Limits(request_tokens, 100), ignore=[])
    position = {(f.path, ln): i for f in given_files for i, ln in enumerate(ln for h in f.hunks for ln in h.lines)}
    last: dict[str, int] = {}
    for batch in plan.batches:
        for file, file_hunks in batch.parts:
            for line in (ln for h in file_hunks for ln in h.lines if ln.changed):
                here = position[(file.path, line)]
                assert here > last.get(file.path, -1)
                last[file.path] = here
