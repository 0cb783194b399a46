"""File names as git writes them: quoted, without prefixes, with custom prefixes, saved with CRLF.

The diffs come from a real git repository, made with the user settings that change git's output.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.core.classify import SkipReason, file_skip_reason
from bot.core.diff import FileStatus, parse_diff
from bot.core.gitpaths import c_unquote, split_git_header

NAMES = {"configuración/.env": "SECRET=1\n", "dir with space/my file.py": "a = 1\n", "ünï/çödé.py": "b = 1\n",
         "tab\there.py": "c = 1\n"}
BIG = "".join(f"line {i}\n" for i in range(40))


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paths")
    _git(root, "init", "-q")
    for name, text in NAMES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "old name.py").write_text(BIG)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "one")
    for name, text in NAMES.items():
        (root / name).write_text(text.replace("1", "2"))
    _git(root, "mv", "old name.py", "nouveau é.py")
    (root / "nouveau é.py").write_text(BIG + "one more\n")
    (root / "new é.txt").write_text("fresh\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "two")
    return root


EXPECTED = {("configuración/.env", FileStatus.MODIFIED), ("dir with space/my file.py", FileStatus.MODIFIED),
            ("ünï/çödé.py", FileStatus.MODIFIED), ("tab\there.py", FileStatus.MODIFIED),
            ("nouveau é.py", FileStatus.RENAMED), ("new é.txt", FileStatus.ADDED)}


@pytest.mark.parametrize("options", [
    [], ["-c", "core.quotepath=false"], ["-c", "diff.noprefix=true"], ["-c", "diff.mnemonicPrefix=true"],
], ids=["quoted", "unquoted", "noprefix", "mnemonic"])
def test_every_git_setting_gives_the_real_paths(repo: Path, options: list[str]) -> None:
    files = parse_diff(_git(repo, *options, "diff", "-M", "HEAD~1", "HEAD"))
    assert {(f.path, f.status) for f in files} == EXPECTED
    renamed = next(f for f in files if f.status is FileStatus.RENAMED)
    assert renamed.old_path == "old name.py" and renamed.added_count == 1


def test_custom_prefixes_are_stripped(repo: Path) -> None:
    files = parse_diff(_git(repo, "diff", "-M", "--src-prefix=left side/", "--dst-prefix=right/", "HEAD~1", "HEAD"))
    assert {(f.path, f.status) for f in files} == EXPECTED


def test_a_diff_saved_with_crlf_gives_clean_paths_and_lines(repo: Path) -> None:
    saved = _git(repo, "diff", "-M", "HEAD~1", "HEAD").replace(b"\n", b"\r\n")
    files = parse_diff(saved)
    assert {(f.path, f.status) for f in files} == EXPECTED
    assert all(not ln.text.endswith("\r") for f in files for h in f.hunks for ln in h.lines)
    assert all(not h.section.endswith("\r") for f in files for h in f.hunks)


def test_a_quoted_secret_file_is_skipped_like_an_ascii_one(repo: Path) -> None:
    (secret,) = [f for f in parse_diff(_git(repo, "diff", "HEAD~1", "HEAD")) if f.path.endswith(".env")]
    assert file_skip_reason(secret, ignore=[]) is SkipReason.SECRET_FILE


@pytest.mark.parametrize(("quoted", "name"), [
    ('"b/configuraci\\303\\263n/.env"', "b/configuraci\u00f3n/.env"),
    ('"a\\tb\\nc\\"d\\\\e"', 'a\tb\nc"d\\e'),
    ('"broken\\q"', None), ('"no end', None), ('"\\77"', None),
])
def test_c_quoted_names(quoted: str, name: str | None) -> None:
    got = c_unquote(quoted)
    assert (got[0] if got else None) == name


def test_an_ambiguous_header_is_split_where_both_sides_agree() -> None:
    assert split_git_header("a/x b/y b/x b/y") == ("a/x b/y", "b/x b/y")
    assert split_git_header("my file my file") == ("my file", "my file")
    assert split_git_header('a/x "b/\\303\\251"') == ("a/x", "b/\u00e9")
    assert split_git_header("a/x b/y") is None


def test_the_cli_diff_ignores_user_settings_that_change_git_output(repo: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.hosts.localgit import branch_diff

    hostile = tmp_path / "gitconfig"
    hostile.write_text("[diff]\n\tnoprefix = true\n\tmnemonicPrefix = true\n\texternal = false\n"
                       "[color]\n\tui = always\n\tdiff = always\n[core]\n\tquotepath = true\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(hostile))
    _git(repo, "branch", "-f", "base", "HEAD~1")
    diff, base = branch_diff(repo, "base")
    assert base == "base" and b"\x1b[" not in diff and b"--- a/" in diff
    assert {(f.path, f.status) for f in parse_diff(diff)} == EXPECTED


def test_a_header_line_longer_than_two_paths_is_not_split_but_its_file_is_still_read() -> None:
    name = "d/" + "x " * 5_000 + ".py"
    assert split_git_header(f"a/{name} b/{name}") is None
    diff = f"diff --git a/{name} b/{name}\n--- a/{name}\t\n+++ b/{name}\t\n@@ -1 +1 @@\n-a\n+b\n"
    assert [f.path for f in parse_diff(diff)] == [name]
