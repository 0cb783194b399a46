"""The webhook server as real processes (gunicorn + workers) against the GitHub and Mistral doubles.

Runs on SQLite (one machine) and, when PostgreSQL and Redis are available, on the
scale-out path (MISTRAL_REVIEW_TEST_DATABASE_URL, MISTRAL_REVIEW_TEST_REDIS_URL: conftest starts them);
under CI=true a missing server fails instead of skipping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import serverfixtures
from tests.conftest import FIXTURES
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.modelreplies import first_added
from tests.serverfixtures import COSTLY, jobs_of, jobs_settled, ledger_of, open_pull, posted_reviews, pr_event, this_month
from tests.servers import SECRET, Server, wait_for

gh, mistral, server, stop_workers = serverfixtures.gh, serverfixtures.mistral, serverfixtures.server, serverfixtures.stop_workers


def test_deliveries_are_checked_before_anything_is_done(server: Server) -> None:
    ping = json.loads((FIXTURES / "webhooks" / "ping.json").read_text())
    assert server.deliver("ping", ping)[0] == 200
    assert server.deliver("ping", ping, signature="sha256=" + "0" * 64) == (401, {"error": "signature does not match"})
    assert server.deliver("ping", ping, signature=None)[0] == 401
    assert server.deliver("ping", b"not json{")[0] == 400
    status, body = server.deliver("pull_request_review", {"action": "submitted"})
    assert status == 202 and body["status"] == "ignored"
    assert server.announce_oversize(26 * 1024 * 1024) == 413


def test_a_redelivery_three_times_gives_one_review(server: Server, gh: GitHubDouble, mistral: MistralDouble,
                                                   stop_workers: None) -> None:
    open_pull(gh, server, 11, "a1" * 20)
    mistral.responder = first_added()
    answers = [server.deliver("pull_request", pr_event(server, 11, "a1" * 20), delivery="same-delivery-11")
               for _ in range(3)]
    assert [a[1]["status"] for a in answers] == ["queued", "duplicate", "duplicate"]
    # Another event for the same head (reopened) is also one review.
    assert server.deliver("pull_request", pr_event(server, 11, "a1" * 20, "reopened"))[1]["status"] == "duplicate"
    server.start_worker()
    wait_for(lambda: jobs_settled(server, 1), what="the job to finish")
    assert len(posted_reviews(gh, server, 11)) == 1


def test_a_review_command_without_write_access_is_ignored(server: Server, gh: GitHubDouble, stop_workers: None) -> None:
    open_pull(gh, server, 12, "a2" * 20)
    comment = gh.add_issue_comment(server.repo, 12, body="/review", user_login="visitor")  # type: ignore[attr-defined]
    gh.set_permission(server.repo, "visitor", "read")  # type: ignore[attr-defined]
    payload = json.loads((FIXTURES / "webhooks" / "issue_comment.created.on-pull-request.json").read_text())
    payload["repository"]["full_name"] = server.repo  # type: ignore[attr-defined]
    payload["issue"]["number"] = 12
    payload["comment"].update(body="/review", id=comment["id"], user={**payload["comment"]["user"], "login": "visitor"})
    status, answer = server.deliver("issue_comment", payload)
    assert (status, answer["status"]) == (202, "ignored") and "no write access" in answer["reason"]
    assert jobs_of(server, 12) == []  # checked before anything was recorded: a refused /review changes nothing
    assert posted_reviews(gh, server, 12) == []
    assert not [r for r in gh.reactions if r["comment_id"] == comment["id"]]  # no 👀 for a refused /review



def test_a_worker_killed_mid_review_is_replaced_and_posts_exactly_once(server: Server, gh: GitHubDouble,
                                                                      mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 13, "a3" * 20)
    review = first_added()
    calls = []

    def slow_first(body: dict[str, Any], attempt: int) -> Reply:
        calls.append(1)
        return Reply(review(body, attempt).content, delay=4.0 if len(calls) == 1 else 0.0)

    mistral.responder = slow_first
    before = len(mistral.requests)
    assert server.deliver("pull_request", pr_event(server, 13, "a3" * 20))[1]["status"] == "queued"
    doomed = server.start_worker()
    wait_for(lambda: len(mistral.requests) > before, what="the model call to start")
    doomed.kill9()
    server.start_worker()
    wait_for(lambda: jobs_settled(server, 1), timeout=60, what="the job to be taken over and finish")
    assert len(posted_reviews(gh, server, 13)) == 1
    (job,) = jobs_of(server, 13)
    assert job.state == "done" and job.attempts == 2


def test_two_workers_never_overspend_a_shared_monthly_budget(server: Server, gh: GitHubDouble, mistral: MistralDouble,
                                                             stop_workers: None) -> None:
    repo = server.repo  # type: ignore[attr-defined]
    ledger = ledger_of(server)
    before, _ = ledger.month_spend("repo", repo, this_month())
    # Budgets are configuration: these workers start with room for one call's worst case ($0.0025), not two.
    budget = {"MISTRAL_REVIEW_MONTHLY_BUDGETS": f"repo:{repo}={before + 0.004:.6f}"}
    server.start_worker(**budget), server.start_worker(**budget)
    open_pull(gh, server, 14, "a4" * 20)
    open_pull(gh, server, 15, "a5" * 20)
    review = first_added()
    mistral.responder = lambda body, attempt: Reply(review(body, attempt).content, usage=COSTLY, delay=0.5)
    for number, head in ((14, "a4" * 20), (15, "a5" * 20)):
        assert server.deliver("pull_request", pr_event(server, number, head))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 2), timeout=60, what="both jobs to finish")
    reviewed = [n for n in (14, 15) if posted_reviews(gh, server, n)]
    assert len(reviewed) == 1
    spent, _ = ledger.month_spend("repo", repo, this_month())
    assert spent - before == pytest.approx(0.00222, abs=1e-5) and spent <= before + 0.004



def test_two_quick_pushes_drop_the_older_job_before_it_spends(server: Server, gh: GitHubDouble,
                                                               mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 16, "b1" * 20)
    mistral.responder = first_added()
    before = len(mistral.requests)
    assert server.deliver("pull_request", pr_event(server, 16, "b1" * 20))[1]["status"] == "queued"
    gh.update_pull(server.repo, 16, head_sha="b2" * 20)  # type: ignore[attr-defined]
    assert server.deliver("pull_request", pr_event(server, 16, "b2" * 20, "synchronize"))[1]["status"] == "queued"
    server.start_worker()
    wait_for(lambda: jobs_settled(server, 2), what="both jobs to finish")
    jobs = {j.head_sha: j for j in jobs_of(server, 16)}
    assert jobs["b1" * 20].state == "dropped" and "superseded" in jobs["b1" * 20].detail
    assert jobs["b2" * 20].state == "done"
    assert len(mistral.requests) - before == 1 and len(posted_reviews(gh, server, 16)) == 1


def test_health_and_metrics(server: Server) -> None:
    status, body = server.get("/healthz")
    assert status == 200 and body["status"] == "ok"
    assert server.get("/metrics")[0] == 401
    status, text = server.get("/metrics", headers={"Authorization": "Bearer dash-token"})
    assert status == 200 and 'mistral_review_jobs{state="done"}' in text
    assert "mistral_review_webhooks_total" in text and "mistral_review_cost_usd_total" in text


def test_logs_are_json_with_the_delivery_id_and_no_secret(server: Server) -> None:
    server.deliver("ping", json.loads((FIXTURES / "webhooks" / "ping.json").read_text()), delivery="log-check-1")
    wait_for(lambda: "log-check-1" in server.process.log.read_text(), what="the log line")
    logs = [server.process.log, *Path(server.data_dir).glob("worker-*.log")]
    text = "".join(p.read_text() for p in logs)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(entry["delivery"] == "log-check-1" for entry in lines)
    for secret in (SECRET, "ghp_test", "test-key", "dash-token"):
        assert secret not in text
