"""The worker's policy on one job, in-process over the doubles: the 👀 is best effort, a base change keeps the
opt-outs, and the ledger records the model a review really used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.settings import Settings
from bot.server.ledger import Ledger, NewJob
from bot.server.settings import ServerSettings
from bot.server.worker import Worker
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, HEAD_SHA, REPO, diff_files


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with GitHubDouble() as gh, MistralDouble() as mistral:
        gh.add_repo(REPO)
        mistral.responder = first_added()
        env = {"GITHUB_TOKEN": "ghp_test", "GITHUB_API_URL": gh.url, "MISTRAL_API_KEY": "test-key",
               "MISTRAL_SERVER_URL": mistral.url, "MISTRAL_REVIEW_DATA_DIR": str(tmp_path),
               "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S": "0", "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01",
               "MISTRAL_REVIEW_ALLOWED_MODELS": "mistral-small-2603,mistral-large-2512"}
        ledger = Ledger.for_data_dir(tmp_path)
        ledger.migrate()
        worker = Worker(ServerSettings.from_env(env), Settings.from_env(env), ledger=ledger)
        yield {"gh": gh, "mistral": mistral, "ledger": ledger, "worker": worker}
        assert gh.schema_errors == [] and gh.crashes == [] and mistral.schema_errors == []


def _run(world: dict[str, Any], job: NewJob) -> tuple[str, str]:
    accepted = world["ledger"].accept(job, now=1.0)
    assert accepted.job_id
    world["worker"].handle(accepted.job_id)
    done = world["ledger"].job(accepted.job_id)
    return done.state, done.detail


def test_a_refused_eyes_reaction_does_not_stop_the_review(world: dict[str, Any]) -> None:
    gh = world["gh"]
    gh.add_pull(REPO, 7, base_sha=BASE_SHA, head_sha=HEAD_SHA, files=diff_files("tiny-one-line-fix.diff"))
    comment = gh.add_issue_comment(REPO, 7, body="/review", user_login="maintainer")
    gh.set_permission(REPO, "maintainer", "write")
    gh.fail_next("POST", r"/reactions$", status=403, body={"message": "Resource not accessible by integration"})
    state, detail = _run(world, NewJob("d1", "issue_comment", REPO, 7, f"comment:{comment['id']}", None,
                                       rereview=True, commenter="maintainer", comment_id=comment["id"]))
    assert (state, detail.split(":")[0]) == ("done", "reviewed") and gh.reactions == []
    assert len(gh.reviews(REPO, 7)) == 1


@pytest.mark.parametrize("fields", [{"labels": ["no-ai-review"]}, {"user_login": "renovate[bot]", "user_type": "Bot"}])
def test_a_base_change_job_keeps_the_opt_outs(world: dict[str, Any], fields: dict[str, Any]) -> None:
    gh = world["gh"]
    gh.add_pull(REPO, 7, base_sha=BASE_SHA, head_sha=HEAD_SHA, files=diff_files("tiny-one-line-fix.diff"), **fields)
    state, detail = _run(world, NewJob("d2", "pull_request", REPO, 7, HEAD_SHA, None, rereview=True))
    assert state == "done" and detail.startswith("skipped")
    assert world["mistral"].requests == [] and gh.reviews(REPO, 7) == [] and world["ledger"].reviews() == []


def test_the_ledger_records_the_model_the_repo_file_picked(world: dict[str, Any]) -> None:
    gh = world["gh"]
    gh.set_content(REPO, BASE_SHA, ".github/mistral-review.toml", 'model = "mistral-large-2512"\n')
    gh.add_pull(REPO, 7, base_sha=BASE_SHA, head_sha=HEAD_SHA, files=diff_files("tiny-one-line-fix.diff"))
    assert _run(world, NewJob("d3", "pull_request", REPO, 7, HEAD_SHA, None))[0] == "done"
    (row,) = world["ledger"].reviews()
    assert row.model == "mistral-large-2512" and [b["model"] for b in world["mistral"].bodies()] == [row.model]
    assert row.cost_usd == pytest.approx((row.prompt_tokens * 0.50 + row.completion_tokens * 1.50) / 1e6, abs=1e-6)


def test_a_review_that_cannot_be_posted_fails_the_job_with_its_calls_booked(world: dict[str, Any]) -> None:
    gh, ledger = world["gh"], world["ledger"]
    gh.add_pull(REPO, 7, base_sha=BASE_SHA, head_sha=HEAD_SHA, files=diff_files("tiny-one-line-fix.diff"))
    gh.fail_next("POST", r"/pulls/7/reviews$", status=500, times=1_000)
    state, detail = _run(world, NewJob("d4", "pull_request", REPO, 7, HEAD_SHA, None))
    assert state == "failed" and detail.startswith("posting the review failed (") and gh.reviews(REPO, 7) == []
    (call,) = ledger.calls(repo=REPO, pr_number=7)
    assert call.cost_usd > 0 and ledger.pr_totals(REPO, 7)[2] == pytest.approx(call.cost_usd)
    (summary,) = gh.issue_comments(REPO, 7)
    assert "Posting this review failed" in summary["body"]
