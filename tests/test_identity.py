"""Who the bot is: asked of GitHub, or configured, never guessed (a wrong login repeats every review)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.errors import UsageError
from bot.hosts.github.client import client_from_env
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import diff_files
from tests.test_action import FIRST, NUMBER, REPO, SECOND, payload, run_action

APP_LOGIN, APP_TOKEN = "acme-reviewer[bot]", "ghs_" + "a" * 36
THIRD = "3" * 40


@pytest.fixture()
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble(bot_login=APP_LOGIN) as double:  # refuses /user to ghs_ tokens, as GitHub does
        double.add_repo(REPO)
        double.add_pull(REPO, NUMBER, base_sha="a" * 40, head_sha=FIRST, files=diff_files("tiny-one-line-fix.diff"))
        yield double
    assert double.schema_errors == [] and double.crashes == []


@pytest.fixture()
def mistral() -> Iterator[MistralDouble]:
    with MistralDouble() as double:
        double.responder = first_added(severity="major")
        yield double
    assert double.schema_errors == []


def _refuse_graphql(gh: GitHubDouble) -> None:
    gh.fail_next("POST", r"^/graphql$", status=403, times=100,
                 body={"message": "Resource not accessible by integration", "documentation_url": "https://docs"})


def _three_pushes(tmp_path: Path, gh: GitHubDouble, mistral: MistralDouble, **inputs: str) -> list[int]:
    """Open, push a new file, then force-push; return the three exit codes."""
    codes = [run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"), **inputs)[0]]
    both = diff_files("tiny-one-line-fix.diff") + diff_files("new-file.diff")
    gh.update_pull(REPO, NUMBER, head_sha=SECOND, files=both)
    gh.set_compare(REPO, FIRST, SECOND, status="ahead", files=diff_files("new-file.diff"))
    codes.append(run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.synchronize.json"),
                            **inputs)[0])
    gh.update_pull(REPO, NUMBER, head_sha=THIRD, files=both)
    gh.set_compare(REPO, SECOND, THIRD, status="diverged", files=[])  # a force-push: everything again
    codes.append(run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.synchronize.json"),
                            **inputs)[0])
    return codes


def _assert_one_summary_and_no_repeats(gh: GitHubDouble) -> None:
    summaries = [c for c in gh.issue_comments(REPO, NUMBER) if "mistral-review:summary" in c["body"]]
    assert len(summaries) == 1 and '"reviews":2' in summaries[0]["body"].replace(" ", "")
    assert THIRD in summaries[0]["body"]  # the marker's last head: the third push was seen, not reviewed afresh
    places = [(c["path"], c["line"]) for c in gh.review_comments(REPO, NUMBER)]
    assert len(places) == 2 and len(set(places)) == 2, places


def test_an_app_token_with_bot_login_finds_its_own_summary_across_three_pushes(tmp_path: Path, gh: GitHubDouble,
                                                                                mistral: MistralDouble) -> None:
    _refuse_graphql(gh)  # GitHub tells nothing about this token: only bot_login says who the bot is
    assert _three_pushes(tmp_path, gh, mistral, github_token=APP_TOKEN, bot_login=APP_LOGIN) == [0, 0, 0]
    _assert_one_summary_and_no_repeats(gh)


def test_an_app_token_is_recognised_through_the_graphql_viewer(tmp_path: Path, gh: GitHubDouble,
                                                              mistral: MistralDouble) -> None:
    assert _three_pushes(tmp_path, gh, mistral, github_token=APP_TOKEN) == [0, 0, 0]
    _assert_one_summary_and_no_repeats(gh)
    user = [r for r in gh.requests if r.path == "/user"]
    assert user and all(r.headers.get("Authorization", "").endswith(APP_TOKEN) for r in user)


def test_an_app_token_whose_login_cannot_be_known_is_an_error_and_posts_nothing(tmp_path: Path, gh: GitHubDouble,
                                                                               mistral: MistralDouble) -> None:
    _refuse_graphql(gh)
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target",
                                       payload("pull_request.opened.json"), github_token=APP_TOKEN)
    assert code == 2 and "::error::" in out and "bot_login" in out
    assert gh.reviews(REPO, NUMBER) == [] and gh.issue_comments(REPO, NUMBER) == [] and mistral.requests == []
    assert outputs == {}
    # a /review command is not even acknowledged with 👀 before the bot knows who it is
    comment = gh.add_issue_comment(REPO, NUMBER, body="/review", user_login="octocat")
    gh.set_permission(REPO, "octocat", "write")
    body = payload("issue_comment.created.on-pull-request.json", issue__number=NUMBER, comment__body="/review",
                   comment__id=comment["id"])
    code, out, _, _ = run_action(tmp_path, gh, mistral, "issue_comment", body, github_token=APP_TOKEN)
    assert code == 2 and "::error::" in out and gh.reactions == []


def test_a_bot_login_that_contradicts_github_is_an_error(tmp_path: Path, gh: GitHubDouble,
                                                        mistral: MistralDouble) -> None:
    code, out, _, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"),
                                 github_token=APP_TOKEN, bot_login="someone-else[bot]")
    assert code == 2 and "someone-else[bot]" in out and APP_LOGIN in out
    assert gh.reviews(REPO, NUMBER) == [] and gh.issue_comments(REPO, NUMBER) == []


def test_a_malformed_bot_login_is_refused() -> None:
    with pytest.raises(UsageError, match="not a GitHub login"):
        client_from_env({"GITHUB_TOKEN": APP_TOKEN, "MISTRAL_REVIEW_BOT_LOGIN": "x<!-- y -->"})
