"""Build pull requests on the GitHub double from real diffs, and run the bot against them."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.core.marker import derive_key
from bot.core.settings import Settings
from bot.hosts.github.client import client_from_env
from bot.llm.mistral import model_from_settings
from bot.llm.tokens import default_counter
from bot.review.ports import Outcome, ReviewRequest
from bot.review.prompting import load_prompts
from bot.review.pull_flow import review_pull
from tests.conftest import FIXTURES
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble

REPO = "octo/hello"
BASE_SHA = "b" * 40
HEAD_SHA = "c" * 40


def files_from_diff(text: str) -> list[dict[str, Any]]:
    """Split git's diff into entries shaped like GitHub's list of PR files (patch = the hunks)."""
    entries = []
    for chunk in re.split(r"^diff --git ", text, flags=re.M)[1:]:
        head, _, rest = chunk.partition("\n@@")
        names = re.match(r"a/(\S+) b/(\S+)", head)
        assert names, head[:80]
        entry: dict[str, Any] = {"filename": names[2], "status": "modified"}
        if "new file mode" in head:
            entry["status"] = "added"
        elif "deleted file mode" in head:
            entry["status"] = "removed"
        elif "rename from" in head:
            entry.update(status="renamed", previous_filename=names[1])
        if rest:
            entry["patch"] = ("@@" + rest).rstrip("\n")
        entries.append(entry)
    return entries


def diff_files(name: str) -> list[dict[str, Any]]:
    """Return GitHub file entries for a real diff from tests/fixtures/diffs."""
    return files_from_diff((FIXTURES / "diffs" / name).read_text(encoding="utf-8", errors="replace"))


def open_pull(gh: GitHubDouble, files: list[dict[str, Any]], *, number: int = 7, head_sha: str = HEAD_SHA,
              **fields: Any) -> None:
    """Open a PR on the double's repo."""
    gh.add_pull(REPO, number, base_sha=BASE_SHA, head_sha=head_sha, files=files, **fields)


def bot_env(gh: GitHubDouble, mistral: MistralDouble, **extra: str) -> dict[str, str]:
    """The environment a run of the bot gets in these tests (no real waits)."""
    return {"GITHUB_TOKEN": "ghp_test", "GITHUB_API_URL": gh.url, "MISTRAL_API_KEY": "test-key",
            "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01",
            "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S": "0", "MISTRAL_REVIEW_GITHUB_MAX_WAIT_S": "0.01", **extra}


def review_pr(gh: GitHubDouble, mistral: MistralDouble, number: int = 7, **extra: str) -> tuple[int, dict[str, Any]]:
    """Run `mistral-review pr` in-process; return the exit code and its JSON."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["pr", f"{REPO}#{number}", "--format", "json"], env=bot_env(gh, mistral, **extra), out=out, err=err)
    assert out.getvalue(), err.getvalue()
    return code, json.loads(out.getvalue())


def marker_of(gh: GitHubDouble, number: int = 7) -> dict[str, Any]:
    """Return the spend marker of the bot's summary comment."""
    (summary,) = [c for c in gh.issue_comments(REPO, number) if "mistral-review:summary" in c["body"]]
    return json.loads(summary["body"].split("<!-- mistral-review:summary ", 1)[1].split(" sig=", 1)[0])


def fixture_text(path: str) -> str:
    """Return a fixture file's text."""
    return Path(FIXTURES / path).read_text(encoding="utf-8")


def rereview(gh: GitHubDouble, mistral: MistralDouble, number: int = 7,
             request: ReviewRequest = ReviewRequest(explicit=True, run_id="rereview")) -> Outcome:
    """Run the flow as an explicit `/review` does (the current head again, past the opt-outs), or as `request` says."""
    env = bot_env(gh, mistral)
    request = replace(request, marker_key=derive_key(env["MISTRAL_API_KEY"]))
    client = client_from_env(env)
    return review_pull(client.pull(REPO, number), identity=client.identity(), base_settings=Settings.from_env(env),
                       model_for=model_from_settings, counter=default_counter(), prompts=load_prompts(),
                       request=request)


@pytest.fixture()
def gh() -> Iterator[GitHubDouble]:
    """A GitHub double with the test repository; it must see no schema error or crash."""
    with GitHubDouble() as double:
        double.add_repo(REPO)
        yield double
    assert double.schema_errors == [] and double.crashes == []


@pytest.fixture()
def mistral() -> Iterator[MistralDouble]:
    """A Mistral double; it must see no schema error."""
    with MistralDouble() as double:
        yield double
    assert double.schema_errors == []
