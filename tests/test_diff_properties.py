"""For any text, the diff parser (and the size screen before it) returns files or raises DiffError, nothing else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.diff import DiffError, parse_diff
from bot.core.sizecaps import SizeCaps, parse_capped

PIECES = [
    "diff --git a/x.py b/x.py", 'diff --git "a/\\303\\251 x" "b/\\303\\251 x"', "diff --git x y z", "diff --git ",
    "--- a/x.py", "+++ b/x.py", "--- /dev/null", "+++ /dev/null", '--- "a/q\\"', "+++ b/x.py\t2020-01-01",
    "@@ -1,2 +1,2 @@", "@@ -0,0 +1 @@ def f():", "@@ -1 +0,0 @@", "@@ -5,3 +5,99 @@",
    "+added", "-removed", " context", "", "\\ No newline at end of file",
    "new file mode 100644", "deleted file mode 100644", "old mode 100644", "new mode 100755",
    "index 1234567..89abcde 100644", "rename from a b", "rename to c", "copy from \"x\"", "similarity index 90%",
    "Binary files a/x and b/x differ", "GIT binary patch", "literal 0",
]
CAPS = SizeCaps(diff_chars=400, file_chars=200, line_chars=40, blob_bytes=100)


def _parses_or_refuses(text: str) -> None:
    for parse in (parse_diff, lambda t: parse_capped(t, CAPS)[0]):
        try:
            files = parse(text)
        except DiffError:
            continue
        assert all(isinstance(f.path, str) and f.path for f in files)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_or_is_a_diff_error(text: str) -> None:
    _parses_or_refuses(text)


diffish = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=60)),
    max_size=30,
).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(diffish, st.sampled_from(["\n", "\r\n", ""]))
def test_any_diff_shaped_text_parses_or_is_a_diff_error(text: str, end: str) -> None:
    _parses_or_refuses(text.replace("\n", "\r\n") + end if end == "\r\n" else text + end)
