"""Build merge requests on the GitLab double from real diffs, and run `mistral-review mr` against them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.cli import main
from tests.conftest import FIXTURES
from tests.doubles.gitlab import GitLabDouble
from tests.doubles.mistral import MistralDouble
from tests.pullrequests import files_from_diff

PROJECT = "acme/platform/api"
BASE_SHA = "b" * 40
HEAD_SHA = "c" * 40


def entries_from_diff(text: str) -> list[dict[str, Any]]:
    """Split git's diff into entries shaped like GitLab's /diffs answer (diff = the hunks, no headers)."""
    entries = []
    for f in files_from_diff(text):
        status, path = f["status"], f["filename"]
        old = f.get("previous_filename", path)
        empty = "" if status == "renamed" else f"Binary files a/{old} and b/{path} differ\n"
        entries.append({"diff": f["patch"] + "\n" if "patch" in f else empty, "collapsed": False, "too_large": False,
                        "new_path": path, "old_path": old, "a_mode": "100644", "b_mode": "100644",
                        "new_file": status == "added", "renamed_file": status == "renamed",
                        "deleted_file": status == "removed", "generated_file": False})
    return entries


def diff_entries(name: str) -> list[dict[str, Any]]:
    """Return GitLab /diffs entries for a real diff from tests/fixtures/diffs."""
    return entries_from_diff((FIXTURES / "diffs" / name).read_text(encoding="utf-8", errors="replace"))


@contextmanager
def opened_mr(diff: str, iid: int = 3) -> Iterator[GitLabDouble]:
    """A GitLab double with one MR of a fixture diff open; fails the test if the double crashed."""
    with GitLabDouble() as double:
        double.add_project(PROJECT)
        double.add_mr(PROJECT, iid, diffs=diff_entries(diff), head=HEAD_SHA, base=BASE_SHA)
        yield double
    assert double.crashes == []


def mr_env(gl: GitLabDouble, mistral: MistralDouble, **extra: str) -> dict[str, str]:
    """The environment a run of the bot gets in these tests (no real waits)."""
    return {"GITLAB_TOKEN": "glpat-bot", "GITLAB_URL": gl.url, "MISTRAL_API_KEY": "test-key",
            "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01",
            "MISTRAL_REVIEW_GITLAB_WRITE_INTERVAL_S": "0", "MISTRAL_REVIEW_GITLAB_MAX_WAIT_S": "0.01", **extra}


def review_mr(gl: GitLabDouble, mistral: MistralDouble, iid: int = 3, *args: str, **extra: str) -> tuple[int, dict[str, Any], str]:
    """Run `mistral-review mr` in-process; return the exit code, its JSON and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["mr", f"{PROJECT}!{iid}", "--format", "json", *args], env=mr_env(gl, mistral, **extra), out=out, err=err)
    return code, (json.loads(out.getvalue()) if out.getvalue() else {}), err.getvalue()


def summary_of(gl: GitLabDouble, iid: int = 3) -> dict[str, Any]:
    """Return the bot's one summary note."""
    (note,) = [n for n in gl.notes(PROJECT, iid) if "mistral-review:summary" in n["body"]]
    return note


def marker_of(gl: GitLabDouble, iid: int = 3) -> dict[str, Any]:
    """Return the spend marker of the bot's summary note."""
    body = summary_of(gl, iid)["body"]
    return json.loads(body.split("<!-- mistral-review:summary ", 1)[1].split(" sig=", 1)[0])


def diff_notes(gl: GitLabDouble, iid: int = 3) -> list[dict[str, Any]]:
    """Return the published diff notes."""
    return [n for n in gl.notes(PROJECT, iid) if n["type"] == "DiffNote"]
