"""The diff model on real diffs: statuses, anchors and the awkward cases."""

from __future__ import annotations

import pytest

from bot.core.diff import DiffError, FileStatus, LineKind, Side, diff_texts, parse_diff
from bot.hosts.github.files import parse_github_file
from tests.conftest import DIFFS, diff_bytes


def test_every_real_diff_parses_with_counts_that_match_numstat() -> None:
    # numstat figures from tests/fixtures/diffs/README (git --numstat of each commit)
    expected = {"medium-multi-file.diff": (24, 346, 234), "huge-commit-vendoring.diff": (65, 11714, 3946),
                "deleted-file.diff": (1, 0, 298), "new-file.diff": (1, 53, 0)}
    for path in DIFFS:
        files = parse_diff(path.read_bytes())
        if path.name in expected:
            n, added, removed = expected[path.name]
            assert (len(files), sum(f.added_count for f in files), sum(f.removed_count for f in files)) == \
                (n, added, removed)


def test_added_lines_anchor_right_on_new_numbers_and_removed_left_on_old() -> None:
    (file,) = parse_diff(diff_bytes("tiny-one-line-fix.diff"))
    assert file.path == "src/requests/utils.py" and file.status is FileStatus.MODIFIED
    changed = [ln for h in file.hunks for ln in h.lines if ln.changed]
    removed, added = changed
    assert (removed.kind, removed.side) == (LineKind.REMOVED, Side.LEFT)
    assert (added.kind, added.side) == (LineKind.ADDED, Side.RIGHT)
    hunk = file.hunks[0]
    # context before the change counts up from the hunk's starts on both sides
    assert removed.line == hunk.old_start + 3 and added.line == hunk.new_start + 3


def test_new_deleted_and_renamed_files() -> None:
    (new,) = parse_diff(diff_bytes("new-file.diff"))
    assert new.status is FileStatus.ADDED and new.old_path is None and new.added_count == 53
    assert [ln.line for ln in new.hunks[0].lines][:3] == [1, 2, 3]
    (gone,) = parse_diff(diff_bytes("deleted-file.diff"))
    assert gone.status is FileStatus.REMOVED and gone.removed_count == 298
    assert all(ln.side is Side.LEFT for ln in gone.hunks[0].lines)
    (moved,) = parse_diff(diff_bytes("rename-with-edits.diff"))
    assert (moved.status, moved.old_path, moved.path) == (FileStatus.RENAMED, "requests/session.py", "requests/sessions.py")
    pure = parse_diff(diff_bytes("rename-pure-and-edited.diff"))
    assert [(f.status, f.changed_count) for f in pure] == [(FileStatus.RENAMED, 0), (FileStatus.RENAMED, 0),
                                                           (FileStatus.RENAMED, 11)]


def test_binary_mode_only_and_empty() -> None:
    files = parse_diff(diff_bytes("binary-file.diff"))
    assert [f.binary for f in files] == [True, False, False]
    git_binary = parse_diff(diff_bytes("binary-file.git-binary-patch.diff"))
    assert git_binary[0].binary and not git_binary[0].hunks
    assert all(f.binary for f in parse_diff(diff_bytes("binary-new-files.diff")))
    modes = parse_diff(diff_bytes("mode-change.diff"))
    assert [f.changed_count for f in modes] == [0, 0, 0, 1]
    assert parse_diff(b"") == [] and parse_diff("  \n") == []


def test_no_newline_marker_is_not_a_line() -> None:
    files = parse_diff(diff_bytes("no-newline-at-eof.diff"))
    texts = [ln.text for f in files for h in f.hunks for ln in h.lines]
    assert not any("No newline at end of file" in t for t in texts)
    assert sum(f.changed_count for f in files) == 6


def test_crlf_lines_lose_their_carriage_return() -> None:
    files = parse_diff(diff_bytes("huge-commit-vendoring.diff"))
    raw = diff_bytes("huge-commit-vendoring.diff")
    assert b"\r\n" in raw
    assert not any(ln.text.endswith("\r") for f in files for h in f.hunks for ln in h.lines)


def test_non_utf8_bytes_are_replaced_not_fatal() -> None:
    files = parse_diff(diff_bytes("non-utf8-latin1.diff"))
    texts = [ln.text for f in files for h in f.hunks for ln in h.lines]
    assert any("\ufffd" in t for t in texts)
    utf8 = parse_diff(diff_bytes("non-ascii-utf8.diff"))
    assert any(any(ord(ch) > 127 for ch in ln.text) for f in utf8 for h in f.hunks for ln in h.lines)


def test_a_single_huge_hunk_keeps_every_line() -> None:
    (file,) = parse_diff(diff_bytes("deleted-file.diff"))
    assert len(file.hunks) == 1 and len(file.hunks[0].lines) == 298


def test_github_patch_strings_parse_like_git_output() -> None:
    for file in parse_diff(diff_bytes("medium-multi-file.diff")):
        patch = "\n".join(_hunk_text(file))
        entry = {"filename": file.path, "status": "modified", "patch": patch}
        assert parse_github_file(entry).hunks == file.hunks


def _hunk_text(file):  # type: ignore[no-untyped-def]
    for h in file.hunks:
        section = f" {h.section}" if h.section else ""
        yield f"@@ -{h.old_start},{h.old_len} +{h.new_start},{h.new_len} @@{section}"
        for ln in h.lines:
            yield ln.kind.value + ln.text


def test_github_entry_for_added_and_renamed_files() -> None:
    added = parse_github_file({"filename": "a.py", "status": "added", "patch": "@@ -0,0 +1,2 @@\n+x = 1\n+y = 2"})
    assert added.status is FileStatus.ADDED and [ln.line for ln in added.hunks[0].lines] == [1, 2]
    moved = parse_github_file({"filename": "b.py", "previous_filename": "a.py", "status": "renamed"})
    assert (moved.old_path, moved.hunks) == ("a.py", ())


def test_text_that_is_not_a_diff_is_a_clear_error() -> None:
    with pytest.raises(DiffError):
        parse_diff("hello\nworld\n")


def test_blob_diffs_split_lines_like_git_so_numbers_do_not_drift() -> None:
    # \f, U+2028, U+0085, \x1c and a lone \r are line breaks to str.splitlines but not to git
    old = "a = 1\fb = 2\nc = '\u2028'\nd = '\x85\x1c'\ne = 'x\ry'\nf = 5\n".encode()
    new = old.replace(b"f = 5", b"f = 6")
    (file,) = [diff_texts("odd.py", "odd.py", old, new)]
    (added,) = [ln for h in file.hunks for ln in h.lines if ln.kind is LineKind.ADDED]
    (removed,) = [ln for h in file.hunks for ln in h.lines if ln.kind is LineKind.REMOVED]
    assert (added.text, added.new_no, removed.old_no) == ("f = 6", 5, 5)  # git: `@@ -5 +5 @@`
    context = [ln.text for h in file.hunks for ln in h.lines if ln.kind is LineKind.CONTEXT]
    assert context == ["c = '\u2028'", "d = '\x85\x1c'", "e = 'x\ry'"]


def test_blob_diffs_keep_crlf_files_and_a_missing_final_newline() -> None:
    (file,) = [diff_texts("w.txt", "w.txt", b"one\r\ntwo\r\nthree", b"one\r\nTWO\r\nthree")]
    changed = [(ln.kind, ln.text, ln.line) for h in file.hunks for ln in h.lines if ln.changed]
    assert changed == [(LineKind.REMOVED, "two", 2), (LineKind.ADDED, "TWO", 2)]


def test_a_file_name_with_a_newline_or_spaces_keeps_its_hunks_and_its_name() -> None:
    for name in ("docs/a\nb.md", "odd name .py", "x<!-- y -->.txt"):
        parsed = parse_github_file({"filename": name, "status": "added", "patch": "@@ -0,0 +1,2 @@\n+one\n+two"})
        assert parsed.path == name and [ln.text for h in parsed.hunks for ln in h.lines] == ["one", "two"]
