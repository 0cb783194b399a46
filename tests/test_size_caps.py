"""Size caps before parsing, and quoted secret names, as a user of `review` and `pr` sees them."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.core.classify import SkipReason
from bot.core.diff import DiffError
from bot.core.sizecaps import SizeCaps, screen_diff
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, HEAD_SHA, REPO, diff_files, open_pull, review_pr


def _added(path: str, lines: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def _dry_run(diff: str, tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    path = tmp_path / "change.diff"
    path.write_text(diff, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["review", "--dry-run", "--format", "json", "--diff-file", str(path)], env={}, out=out, err=err)
    return code, json.loads(out.getvalue() or "{}"), err.getvalue()


def test_files_over_the_caps_are_listed_as_too_large_and_the_rest_reviewed(tmp_path: Path) -> None:
    diff = (_added("src/ok.py", ["x = 1"]) + _added("src/long_line.js", ["y" * 20_001])
            + _added("src/huge.py", [f"value_{i} = {i}" for i in range(80_000)]))
    code, plan, _ = _dry_run(diff, tmp_path)
    assert code == 0
    assert [b["files"] for b in plan["batches"]] == [["src/ok.py"]]
    assert {(s["path"], s["reason"]) for s in plan["skipped"]} == {("src/long_line.js", "too-large"),
                                                                   ("src/huge.py", "too-large")}


def test_a_50_mb_one_line_diff_is_skipped_before_it_is_parsed() -> None:
    diff = _added("big.txt", ["x" * 50_000_000])
    kept, skipped = screen_diff(diff)
    assert kept == "" and [(s.path, s.reason, s.changed_lines) for s in skipped] == \
        [("big.txt", SkipReason.TOO_LARGE, 1)]


def test_past_the_whole_diff_cap_the_first_files_are_reviewed_and_the_rest_listed() -> None:
    files = [_added(f"f{i}.py", [f"v = {i}"] * 20) for i in range(6)]
    caps = SizeCaps(diff_chars=len("".join(files[:4])), file_chars=10_000, line_chars=100)
    kept, skipped = screen_diff("".join(files), caps)
    assert kept == "".join(files[:4])
    assert [(s.path, s.reason, s.changed_lines) for s in skipped] == \
        [("f4.py", SkipReason.TOO_LARGE, 20), ("f5.py", SkipReason.TOO_LARGE, 20)]


def test_a_large_text_without_any_file_header_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with pytest.raises(DiffError, match="without a file header"):
        screen_diff("hello\n" * 200_000)
    path = tmp_path / "notes.txt"
    path.write_text("hello\n" * 200_000)
    err = io.StringIO()
    code = main(["review", "--dry-run", "--diff-file", str(path)], env={}, out=io.StringIO(), err=err)
    assert code == 2 and len(err.getvalue().strip().splitlines()) == 1


def _quoted_secret_diff(tmp_path: Path) -> bytes:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "configuración").mkdir()
    (tmp_path / "configuración" / ".env").write_text("API_TOKEN=base\n")
    (tmp_path / "clé.key").write_text("-----BEGIN KEY-----\n")
    (tmp_path / "app.py").write_text("a = 1\n")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=tmp_path, check=True)
    (tmp_path / "configuración" / ".env").write_text("API_TOKEN=unguessable-value-42\n")
    (tmp_path / "clé.key").write_text("-----BEGIN KEY-----\nsecret-key-body-42\n")
    (tmp_path / "app.py").write_text("a = 2\n")
    subprocess.run([*git, "commit", "-qam", "two"], cwd=tmp_path, check=True)
    diff = subprocess.run(["git", "diff", "HEAD~1", "HEAD"], cwd=tmp_path, check=True, capture_output=True).stdout
    assert b'"b/configuraci\\303\\263n/.env"' in diff  # git quoted it, as by default
    return diff


def test_a_secret_file_with_a_quoted_non_ascii_name_is_skipped_and_never_sent(tmp_path: Path,
                                                                             mistral: MistralDouble) -> None:
    path = tmp_path / "quoted.diff"
    path.write_bytes(_quoted_secret_diff(tmp_path / "repo"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["review", "--dry-run", "--format", "json", "--diff-file", str(path)], env={}, out=out, err=err)
    assert code == 0, err.getvalue()
    plan = json.loads(out.getvalue())
    assert {(s["path"], s["reason"]) for s in plan["skipped"]} == {("configuración/.env", "secret-file"),
                                                                   ("clé.key", "secret-file")}
    assert [b["files"] for b in plan["batches"]] == [["app.py"]]
    mistral.responder = first_added()
    env = {"MISTRAL_API_KEY": "k", "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01"}
    code = main(["review", "--format", "json", "--diff-file", str(path)], env=env, out=io.StringIO(), err=err)
    assert code == 0, err.getvalue()
    sent = "\n".join(mistral.user_messages())
    assert "app.py" in sent and "unguessable-value-42" not in sent and "secret-key-body-42" not in sent
    assert ".env" not in sent and ".key" not in sent


def test_a_pull_request_file_over_the_caps_is_listed_and_its_blob_never_fetched(gh: GitHubDouble,
                                                                               mistral: MistralDouble) -> None:
    huge_patch = "@@ -0,0 +1,2 @@\n+" + "z" * 30_000 + "\n+ok"
    long_line = {"filename": "dist/app.min.js", "status": "added", "additions": 2, "deletions": 0,
                 "patch": huge_patch}
    big = {"filename": "data/big.csv", "status": "modified", "additions": 1, "deletions": 1, "changes": 2}
    gh.set_content(REPO, BASE_SHA, "data/big.csv", "a,b\n" * 300_000)
    gh.set_content(REPO, HEAD_SHA, "data/big.csv", "a,b\n" * 300_001)
    open_pull(gh, diff_files("tiny-one-line-fix.diff") + [long_line, big])
    mistral.responder = first_added()
    code, result = review_pr(gh, mistral)
    assert code == 0
    assert {(s["path"], s["reason"]) for s in result["skipped"]} >= {("dist/app.min.js", "too-large"),
                                                                     ("data/big.csv", "too-large")}
    assert not [r for r in gh.requests if "/git/blobs/" in r.path]
    sent = "\n".join(mistral.user_messages())
    assert "zzzz" not in sent and "big.csv" not in sent and "src/requests/utils.py" in sent



@pytest.mark.parametrize("big", [["y" * 20_001], [f"value_{i} = {i}" for i in range(80_000)]])
def test_a_file_left_out_as_too_large_never_gives_no_problems_found(tmp_path: Path, mistral: MistralDouble,
                                                                    big: list[str]) -> None:
    """The reviewed file is clean, but a file over the caps was not read: the run says so, never 'No problems found'."""
    from tests.doubles.mistral import Reply

    path = tmp_path / "change.diff"
    path.write_text(_added("src/ok.py", ["x = 1"]) + _added("src/big.py", big), encoding="utf-8")
    mistral.responder = lambda body, attempt: Reply(json.dumps({"comments": []}))
    env = {"MISTRAL_API_KEY": "test-key", "MISTRAL_SERVER_URL": mistral.url}
    out, err = io.StringIO(), io.StringIO()
    code = main(["review", "--diff-file", str(path)], env=env, out=out, err=err)
    assert code == 0 and len(mistral.requests) == 1, err.getvalue()
    assert "No problems found" not in out.getvalue() and "Partly reviewed" in out.getvalue()
    assert "src/big.py" in out.getvalue() and "too-large" in out.getvalue()
    strict = main(["review", "--diff-file", str(path), "--fail-on-unreviewed"], env=env, out=io.StringIO(), err=err)
    assert strict == 1
