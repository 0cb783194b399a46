"""Issue 10's races and faults against real processes (gunicorn + workers) and the GitHub and Mistral doubles.

Each test says what a user sees: reviews posted, model calls made, dollars in `spend` against the cap.
Each runs on SQLite and on PostgreSQL + Redis (MISTRAL_REVIEW_TEST_DATABASE_URL, MISTRAL_REVIEW_TEST_REDIS_URL).
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from typing import Any

import pytest

from bot.cli import main
from tests import serverfixtures
from tests.conftest import FIXTURES
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.modelreplies import first_added
from tests.pullrequests import diff_files
from tests.serverfixtures import COSTLY, jobs_of, jobs_settled, ledger_of, open_pull, posted_reviews, pr_event
from tests.servers import Server, wait_for

gh, mistral, server, stop_workers = serverfixtures.gh, serverfixtures.mistral, serverfixtures.server, serverfixtures.stop_workers


def _spend(server: Server, number: int) -> dict[str, Any]:
    """Return the `spend` CLI's JSON totals of one PR (what the operator sees)."""
    out = io.StringIO()
    assert main(["spend", "--format", "json", "--repo", server.repo, "--pr", str(number)],  # type: ignore[attr-defined]
                env=server.env, out=out, err=io.StringIO()) == 0
    prs = json.loads(out.getvalue())["pull_requests"]
    return prs[0] if prs else {"cost_usd": 0.0, "reviews": 0}


def _comment(server: Server, gh: GitHubDouble, number: int, login: str, permission: str) -> dict[str, Any]:
    """Put a /review comment on the PR and return the issue_comment delivery for it."""
    made = gh.add_issue_comment(server.repo, number, body="/review", user_login=login)  # type: ignore[attr-defined]
    gh.set_permission(server.repo, login, permission)  # type: ignore[attr-defined]
    payload = json.loads((FIXTURES / "webhooks" / "issue_comment.created.on-pull-request.json").read_text())
    payload["repository"]["full_name"] = server.repo  # type: ignore[attr-defined]
    payload["issue"]["number"] = number
    payload["comment"].update(body="/review", id=made["id"], user={**payload["comment"]["user"], "login": login})
    return payload


def _calls(mistral: MistralDouble, before: int) -> int:
    return len(mistral.requests) - before


def _review_posts(gh: GitHubDouble, server: Server, number: int) -> int:
    """How many review posts for this PR reached the GitHub double, refused ones included."""
    path = f"{server.repo}/pulls/{number}/reviews"  # type: ignore[attr-defined]
    return sum(r.method == "POST" and r.path.endswith(path) for r in list(gh.requests))


def _slow(delay: float, usage: dict[str, Any] | None = None) -> Any:
    review = first_added()
    return lambda body, attempt: Reply(review(body, attempt).content, delay=delay, usage=usage)


def test_out_of_order_pushes_give_one_review_of_the_current_head(server: Server, gh: GitHubDouble,
                                                                  mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 21, "c2" * 20)  # GitHub already says c2; its delivery arrives before c1's
    mistral.responder, before = first_added(), len(mistral.requests)
    assert server.deliver("pull_request", pr_event(server, 21, "c2" * 20, "synchronize"))[1]["status"] == "queued"
    assert server.deliver("pull_request", pr_event(server, 21, "c1" * 20))[1]["status"] == "queued"
    server.start_worker()
    wait_for(lambda: jobs_settled(server, 2), what="both jobs to finish")
    (review,) = posted_reviews(gh, server, 21)
    assert review["commit_id"] == "c2" * 20 and _calls(mistral, before) == 1
    states = {j.head_sha[:2]: j.state for j in jobs_of(server, 21)}
    assert states == {"c2": "done", "c1": "dropped"}
    assert _spend(server, 21)["cost_usd"] > 0


@pytest.mark.parametrize("busy", [False, True], ids=["worker-idle", "worker-busy"])
def test_an_outsiders_review_command_after_a_push_costs_nothing(server: Server, gh: GitHubDouble, mistral: MistralDouble,
                                                                stop_workers: None, busy: bool) -> None:
    number = 22 + busy
    open_pull(gh, server, number, f"d{int(busy)}" * 20)
    mistral.responder, before = _slow(1.5 if busy else 0.0), len(mistral.requests)
    if busy:
        server.start_worker()
    assert server.deliver("pull_request", pr_event(server, number, f"d{int(busy)}" * 20))[1]["status"] == "queued"
    if busy:
        wait_for(lambda: _calls(mistral, before) == 1, what="the push review to reach the model")
    status, answer = server.deliver("issue_comment", _comment(server, gh, number, f"outsider{number}", "read"))
    assert (status, answer["status"]) == (202, "ignored")
    if not busy:
        server.start_worker()
    wait_for(lambda: jobs_settled(server, 1), what="the push job to finish")
    assert len(posted_reviews(gh, server, number)) == 1 and _calls(mistral, before) == 1
    assert [j.comment_id for j in jobs_of(server, number)] == [None]  # the outsider's comment recorded nothing


def test_a_newer_push_during_a_review_gets_the_newest_head_reviewed(server: Server, gh: GitHubDouble,
                                                                   mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 24, "e1" * 20)
    mistral.responder, before = _slow(1.5), len(mistral.requests)
    server.start_worker(), server.start_worker()
    assert server.deliver("pull_request", pr_event(server, 24, "e1" * 20))[1]["status"] == "queued"
    wait_for(lambda: _calls(mistral, before) == 1, what="the first review to reach the model")
    gh.update_pull(server.repo, 24, head_sha="e2" * 20, files=diff_files("new-file.diff"))  # type: ignore[attr-defined]
    assert server.deliver("pull_request", pr_event(server, 24, "e2" * 20, "synchronize"))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 2), timeout=60, what="both jobs to finish")
    reviews = posted_reviews(gh, server, 24)
    assert reviews[-1]["commit_id"] == "e2" * 20
    summary = next(c["body"] for c in gh.issue_comments(server.repo, 24) if "mistral-review:summary" in c["body"])  # type: ignore[attr-defined]
    assert '"head":"' + "e2" * 20 in summary.replace(" ", "")


def test_four_concurrent_review_commands_never_exceed_the_pr_cap(server: Server, gh: GitHubDouble,
                                                                mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 25, "f1" * 20)
    mistral.responder, before = _slow(0.3, COSTLY), len(mistral.requests)
    cap = {"MISTRAL_REVIEW_PR_BUDGET_CAP_USD": "0.005"}  # two calls of $0.00222, never three
    for _ in range(2):
        server.start_worker(**cap)
    for i in range(4):
        assert server.deliver("issue_comment", _comment(server, gh, 25, f"maintainer{i}", "write"))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 4), timeout=90, what="the four jobs to finish")
    spent = _spend(server, 25)["cost_usd"]
    assert spent <= 0.005 and _calls(mistral, before) <= 2 and spent == pytest.approx(0.00222 * _calls(mistral, before))


def test_a_worker_killed_after_the_model_answered_leaves_the_cost_in_spend(server: Server, gh: GitHubDouble,
                                                                          mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 26, "f2" * 20)
    mistral.responder, before = first_added(), len(mistral.requests)
    gh.secondary_rate_limit("POST", r"/pulls/26/reviews$", retry_after=30)  # the post waits 30 s: kill it then
    doomed = server.start_worker()
    assert server.deliver("pull_request", pr_event(server, 26, "f2" * 20))[1]["status"] == "queued"
    wait_for(lambda: _spend(server, 26)["cost_usd"] > 0, what="the call to be booked")
    # Kill it while it waits out the refused post: killed before that post, its successor would meet the refusal.
    wait_for(lambda: _review_posts(gh, server, 26) == 1, what="the review post to be refused")
    doomed.kill9()
    booked = _spend(server, 26)["cost_usd"]
    server.start_worker()
    wait_for(lambda: jobs_settled(server, 1), timeout=60, what="the job to be taken over")
    assert len(posted_reviews(gh, server, 26)) == 1 and _calls(mistral, before) == 2
    assert _spend(server, 26)["cost_usd"] == pytest.approx(2 * booked)  # both paid calls, the killed one included


def test_a_failed_review_post_still_shows_its_cost(server: Server, gh: GitHubDouble, mistral: MistralDouble,
                                                   stop_workers: None) -> None:
    open_pull(gh, server, 27, "f3" * 20)
    mistral.responder, before = first_added(), len(mistral.requests)
    gh.secondary_rate_limit("POST", r"/pulls/27/reviews$", retry_after=0, times=10)  # every retry refused
    server.start_worker()
    assert server.deliver("pull_request", pr_event(server, 27, "f3" * 20))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 1), timeout=60, what="the job to fail")
    (job,) = jobs_of(server, 27)
    assert job.state == "failed" and "secondary rate limit" in job.detail
    assert posted_reviews(gh, server, 27) == [] and _calls(mistral, before) == 1 and _spend(server, 27)["cost_usd"] > 0


def test_a_retry_that_finds_its_review_landed_keeps_the_first_cost(server: Server, gh: GitHubDouble,
                                                                    mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 28, "f4" * 20)
    mistral.responder, before = first_added(), len(mistral.requests)
    gh.secondary_rate_limit("POST", r"/issues/28/comments$", retry_after=30)  # the summary waits: kill it then
    doomed = server.start_worker()
    assert server.deliver("pull_request", pr_event(server, 28, "f4" * 20))[1]["status"] == "queued"
    wait_for(lambda: len(posted_reviews(gh, server, 28)) == 1, what="the review to land")
    doomed.kill9()
    server.start_worker()
    wait_for(lambda: jobs_settled(server, 1), timeout=60, what="the retry to finish")
    (job,) = jobs_of(server, 28)
    assert job.state == "done" and "already posted" in job.detail and job.attempts == 2
    assert len(posted_reviews(gh, server, 28)) == 1 and _calls(mistral, before) == 1 and _spend(server, 28)["cost_usd"] > 0


def test_a_mistral_outage_fails_the_job_and_a_later_review_commandposted_reviews(server: Server, gh: GitHubDouble,
                                                                         mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 29, "f5" * 20)
    mistral.responder = lambda body, attempt: Reply(status=503)
    server.start_worker()
    push = pr_event(server, 29, "f5" * 20)
    assert server.deliver("pull_request", push, delivery="outage-29")[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 1), timeout=60, what="the job to fail")
    (job,) = jobs_of(server, 29)
    assert job.state == "failed" and "all 1 model call(s) failed" in job.detail
    assert posted_reviews(gh, server, 29) == [] and _spend(server, 29)["cost_usd"] == 0
    mistral.responder = first_added()
    assert server.deliver("pull_request", push, delivery="outage-29")[1]["status"] == "queued"  # redelivery accepted
    assert server.deliver("issue_comment", _comment(server, gh, 29, "maintainer", "write"))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 3), timeout=60, what="the retries to finish")
    assert len(posted_reviews(gh, server, 29)) == 1 and _spend(server, 29)["cost_usd"] > 0


def test_a_worker_that_lost_its_lease_does_not_post_and_releases_its_holds(server: Server, gh: GitHubDouble,
                                                                           mistral: MistralDouble, stop_workers: None) -> None:
    open_pull(gh, server, 30, "f6" * 20)
    mistral.responder, before = _slow(3.0), len(mistral.requests)  # long enough to freeze the worker mid-call
    paused = server.start_worker()
    assert server.deliver("pull_request", pr_event(server, 30, "f6" * 20))[1]["status"] == "queued"
    wait_for(lambda: _calls(mistral, before) == 1, what="the first attempt to reach the model")
    _freeze(server, paused)  # frozen past its 2 s lease: another worker takes the job over
    try:
        server.start_worker()
        wait_for(lambda: len(posted_reviews(gh, server, 30)) == 1, timeout=60, what="the second attempt to post")
    finally:
        os.killpg(paused.proc.pid, signal.SIGCONT)
    wait_for(lambda: jobs_settled(server, 1), timeout=60, what="the job to finish")
    wait_for(lambda: "lost its lease" in paused.log.read_text(), what="the thawed worker to stop")
    assert len(posted_reviews(gh, server, 30)) == 1 and _calls(mistral, before) == 2
    assert _spend(server, 30)["cost_usd"] > 0  # both answers were paid and both are booked
    month = time.strftime("%Y-%m", time.gmtime())
    assert _month_reserved(server, month) == 0  # nothing is left held


def _freeze(server: Server, worker: Any) -> None:
    """SIGSTOP a worker at a moment it holds no database lock.

    A process frozen inside a transaction keeps its locks (the one-machine ledger's, or a PostgreSQL row lock)
    until it resumes: every other worker would wait on it, which is not the lost lease this test is about.
    """
    for _ in range(200):
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        time.sleep(0.1)  # let a statement the frozen process sent finish, so its transaction shows as idle
        if not _locks_held(server):
            return
        os.killpg(worker.proc.pid, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("the worker never stood outside a transaction")


def _locks_held(server: Server) -> bool:
    import fcntl
    import sqlite3

    import sqlalchemy as sa

    if "DATABASE_URL" in server.env:
        engine = sa.create_engine(server.env["DATABASE_URL"])
        with engine.connect() as conn:
            held = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND state LIKE 'idle in transaction%'")).scalar_one()
        engine.dispose()
        return bool(held)
    with open(server.data_dir / "ledger.db.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    queue = sqlite3.connect(server.data_dir / "queue.db", timeout=0, isolation_level=None)
    try:
        queue.execute("BEGIN IMMEDIATE")
        queue.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return True
    finally:
        queue.close()
    return False


def _month_reserved(server: Server, month: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(server.env.get("DATABASE_URL") or f"sqlite:///{server.data_dir / 'ledger.db'}")
    with engine.connect() as conn:
        held = conn.execute(sa.text("SELECT COALESCE(SUM(reserved_micros), 0) FROM budget_months WHERE month = :m"),
                            {"m": month}).scalar_one()
        held += conn.execute(sa.text("SELECT COALESCE(SUM(reserved_micros), 0) FROM pr_budgets")).scalar_one()
    engine.dispose()
    return int(held)


def test_a_cap_removed_from_the_environment_is_not_enforced_after_restart(server: Server, gh: GitHubDouble,
                                                                          mistral: MistralDouble, stop_workers: None) -> None:
    repo = server.repo  # type: ignore[attr-defined]
    mistral.responder, before = first_added(), len(mistral.requests)
    capped = server.start_worker(MISTRAL_REVIEW_MONTHLY_BUDGETS=f"repo:{repo}=0.000001")
    open_pull(gh, server, 31, "f7" * 20)
    assert server.deliver("pull_request", pr_event(server, 31, "f7" * 20))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 1), what="the capped job to finish")
    assert _calls(mistral, before) == 0 and posted_reviews(gh, server, 31) == []
    capped.stop()
    server.workers.remove(capped)
    server.start_worker(MISTRAL_REVIEW_MONTHLY_BUDGETS="")  # restarted without the cap
    open_pull(gh, server, 32, "f8" * 20)
    assert server.deliver("pull_request", pr_event(server, 32, "f8" * 20))[1]["status"] == "queued"
    wait_for(lambda: jobs_settled(server, 2), what="the uncapped job to finish")
    assert _calls(mistral, before) == 1 and len(posted_reviews(gh, server, 32)) == 1
    assert ledger_of(server).month_spend("repo", repo, time.strftime("%Y-%m", time.gmtime()))[1] is None
