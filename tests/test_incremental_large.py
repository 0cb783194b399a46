"""A push of more files than GitHub's compare lists (300): every changed file is reviewed, never silently skipped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import HEAD_SHA, REPO, open_pull, review_pr

FILES, CHANGED = 330, 320
NEW_HEAD = "e" * 40


@pytest.fixture()
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        double.add_repo(REPO)
        yield double
    assert double.schema_errors == [] and double.crashes == []


@pytest.fixture()
def mistral() -> Iterator[MistralDouble]:
    with MistralDouble() as double:
        double.responder = first_added()
        yield double
    assert double.schema_errors == []


def _path(i: int) -> str:
    return f"src/part_{i:03d}.py"


def _push_320_of_330_files(gh: GitHubDouble, mistral: MistralDouble) -> None:
    """Open a 330-file PR, review it, then push a change to 320 of its files."""
    first = [{"filename": _path(i), "status": "added", "patch": f"@@ -0,0 +1,2 @@\n+size_{i} = 1\n+name = {i}"}
             for i in range(FILES)]
    open_pull(gh, first)
    assert review_pr(gh, mistral, MISTRAL_REVIEW_BUDGET_USD="5")[0] == 0
    pushed = [{"filename": _path(i), "status": "added",
               "patch": f"@@ -0,0 +1,3 @@\n+size_{i} = 2\n+name = {i}\n+extra = True"} for i in range(CHANGED)]
    pushed += first[CHANGED:]
    gh.update_pull(REPO, 7, head_sha=NEW_HEAD, files=pushed)
    since = [{"filename": _path(i), "status": "modified",
              "patch": f"@@ -1,2 +1,3 @@\n-size_{i} = 1\n+size_{i} = 2\n name = {i}\n+extra = True"} for i in range(CHANGED)]
    gh.set_compare(REPO, HEAD_SHA, NEW_HEAD, status="ahead", files=since)  # the double lists 300, as GitHub does
    mistral.reset()


def _asked_files(mistral: MistralDouble) -> set[str]:
    return {m[1] for text in mistral.user_messages() for m in re.finditer(r"^### FILE (\S+)", text, flags=re.M)}


def test_a_320_file_push_reviews_all_320_files_and_only_those(gh: GitHubDouble, mistral: MistralDouble) -> None:
    _push_320_of_330_files(gh, mistral)
    code, result = review_pr(gh, mistral, MISTRAL_REVIEW_BUDGET_USD="5")
    assert code == 0 and result["status"] in ("reviewed", "no-findings"), result
    compares = [r for r in gh.requests if "/compare/" in r.path and r.path.endswith(NEW_HEAD)]
    assert compares  # the push was compared, and GitHub's answer listed only 300 of its files
    assert _asked_files(mistral) == {_path(i) for i in range(CHANGED)}
    assert sum(1 for r in gh.requests if "/git/trees/" in r.path) == 2


def test_when_the_trees_cannot_be_read_the_whole_pr_is_reviewed_and_the_summary_says_so(
        gh: GitHubDouble, mistral: MistralDouble) -> None:
    _push_320_of_330_files(gh, mistral)
    gh.fail_next("GET", r"/git/trees/", status=404, times=2)
    code, result = review_pr(gh, mistral, MISTRAL_REVIEW_BUDGET_USD="5")
    assert code == 0, result
    assert _asked_files(mistral) == {_path(i) for i in range(FILES)}
    (summary,) = [c for c in gh.issue_comments(REPO, 7) if "mistral-review:summary" in c["body"]]
    assert "the whole pull request was reviewed again" in summary["body"]
