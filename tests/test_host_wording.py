"""The text the bot posts speaks its host's language: a GitLab summary never names GitHub or its Action, and a
GitHub one keeps its words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.doubles.github import GitHubDouble
from tests.doubles.gitlab import GitLabDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.mergerequests import opened_mr, review_mr, summary_of
from tests.modelreplies import added_lines, comment
from tests.pullrequests import REPO, diff_files, open_pull, review_pr

TINY = {"MISTRAL_REVIEW_BUDGET_USD": "0.0001"}  # below one call's worst case: the budget is spent before any call


def long_comments(body: dict[str, Any], attempt: int) -> Reply:
    """A model whose comments are too long for one host comment: each is cut, and the summary says so."""
    lines = added_lines(body)
    return Reply(json.dumps({"comments": [comment(*lines[i], body="This line is wrong in a new way. " * 400)
                                          for i in range(min(3, len(lines)))]}))


@pytest.fixture()
def gl() -> Iterator[GitLabDouble]:
    with opened_mr("medium-multi-file.diff") as double:
        yield double


def test_a_gitlab_summary_with_its_budget_spent_points_to_gitlab_ci_never_github(gl: GitLabDouble,
                                                                                 mistral: MistralDouble) -> None:
    code, result, err = review_mr(gl, mistral, **TINY)
    body = summary_of(gl)["body"]
    assert code == 0 and result["status"] == "budget-exhausted" and mistral.requests == [], err
    assert "Budget reached" in body and "this merge request" in body and "GitLab CI job" in body
    assert "`.mistral-review.toml`" in body and "github" not in body.lower()


def test_a_gitlab_summary_of_cut_comments_never_says_github(gl: GitLabDouble, mistral: MistralDouble) -> None:
    mistral.responder = long_comments
    code, result, err = review_mr(gl, mistral)
    body = summary_of(gl)["body"]
    assert code == 0 and result["status"] == "reviewed", err
    assert "Cut to fit GitLab's limits" in body and "comment cut to 4,000 characters" in body
    assert "github" not in body.lower()


def test_a_github_summary_with_its_budget_spent_keeps_the_actions_words(gh: GitHubDouble, mistral: MistralDouble) -> None:
    gh.set_content(REPO, "b" * 40, ".github/mistral-review.toml", "max_comments = 5\n")
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    code, result = review_pr(gh, mistral, **TINY)
    body = next(c for c in gh.issue_comments(REPO, 7) if "mistral-review:summary" in c["body"])["body"]
    assert code == 0 and result["status"] == "budget-exhausted" and mistral.requests == []
    assert "this pull request" in body and "the GitHub Action also takes a `budget_usd` input" in body
    assert "`.github/mistral-review.toml` on the base branch" in body
