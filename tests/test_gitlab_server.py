"""GitLab through the webhook server as real processes (gunicorn + a worker), beside GitHub on the same server.

Real payloads from tests/fixtures/gitlab, the real python-gitlab in the worker against the GitLab double, and the
same queue, ledger, budgets and dashboard as GitHub, on SQLite and on PostgreSQL + Redis
(MISTRAL_REVIEW_TEST_DATABASE_URL, MISTRAL_REVIEW_TEST_REDIS_URL: conftest starts them).
"""

from __future__ import annotations

import copy
import io
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bot.cli import main
from tests import serverfixtures
from tests.conftest import FIXTURES
from tests.doubles.gitlab import GitLabDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.mergerequests import BASE_SHA, diff_entries
from tests.modelreplies import first_added
from tests.serverfixtures import ledger_of, running_server, this_month
from tests.servers import SECRET, Server, wait_for

mistral = serverfixtures.mistral
TOKEN = "gitlab-webhook-secret-for-tests"
PROJECT, PROJECT_ID = "acme/platform/api", 4242
CAPPED, CAPPED_ID = "thrifty/tools", 4343


@pytest.fixture(scope="module")
def gl() -> Iterator[GitLabDouble]:
    with GitLabDouble() as double:
        double.add_project(PROJECT, PROJECT_ID)
        double.add_project(CAPPED, CAPPED_ID)
        double.add_user("glpat-rita", "rita", 21)
        double.add_user("glpat-dev", "dev", 31)
        double.projects[PROJECT].members.update({21: 20, 31: 30})
        yield double
    assert double.crashes == []


@pytest.fixture(scope="module", params=["one-machine", "scale-out"])
def server(request: pytest.FixtureRequest, gl: GitLabDouble, mistral: MistralDouble,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp(f"gitlab-{request.param}")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "GITHUB_WEBHOOK_SECRET": SECRET,
           "GITHUB_TOKEN": "ghp_test", "GITHUB_API_URL": "http://127.0.0.1:9", "GITLAB_WEBHOOK_SECRET": TOKEN,
           "GITLAB_TOKEN": "glpat-bot", "GITLAB_URL": gl.url, "MISTRAL_REVIEW_GITLAB_WRITE_INTERVAL_S": "0",
           "MISTRAL_REVIEW_GITLAB_MAX_WAIT_S": "0.01", "MISTRAL_API_KEY": "test-key", "MISTRAL_SERVER_URL": mistral.url,
           "MISTRAL_REVIEW_DATA_DIR": str(data_dir), "MISTRAL_REVIEW_LEASE_S": "2", "MISTRAL_REVIEW_REAP_EVERY_S": "0.3",
           "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01", "MISTRAL_REVIEW_DASHBOARD_TOKEN": "dash-token",
           "MISTRAL_REVIEW_MONTHLY_BUDGETS": "group:acme=1000; group:thrifty=0.000001"}
    with running_server(request.param, env, data_dir) as running:
        running.start_worker()
        yield running


def event(name: str, iid: int, head: str, *, project: str = PROJECT, project_id: int = PROJECT_ID) -> dict[str, Any]:
    """A real GitLab payload, pointed at one of the double's projects."""
    data = copy.deepcopy(json.loads((FIXTURES / "gitlab" / f"webhook.{name}.json").read_text()))
    data["project"].update(id=project_id, path_with_namespace=project)
    attributes = data["object_attributes"]
    if data["object_kind"] == "note":
        data["merge_request"]["iid"] = iid
    else:
        attributes.update(iid=iid, target_project_id=project_id, last_commit={**attributes["last_commit"], "id": head})
    return data


def deliver(server: Server, kind: str, payload: dict[str, Any] | bytes, *, key: str | None = None,
            token: str | None = TOKEN) -> tuple[int, Any]:
    """POST a GitLab delivery as GitLab sends it (its retries keep the Idempotency-Key)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"X-Gitlab-Event": kind, "Content-Type": "application/json", "Idempotency-Key": key or str(uuid.uuid4())}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return server.request("POST", "/webhook/gitlab", body, headers)


def open_mr(gl: GitLabDouble, iid: int, head: str, *, project: str = PROJECT, draft: bool = False) -> None:
    gl.add_mr(project, iid, diffs=diff_entries("tiny-one-line-fix.diff"), head=head, base=BASE_SHA, draft=draft)


def settled(server: Server, iid: int, n: int, project: str = PROJECT) -> bool:
    jobs = ledger_of(server).jobs_for(project, iid, host="gitlab")
    return len(jobs) >= n and all(job.state in ("done", "dropped", "failed") for job in jobs)


def diff_notes(gl: GitLabDouble, iid: int, project: str = PROJECT) -> list[dict[str, Any]]:
    return [n for n in gl.notes(project, iid) if n["type"] == "DiffNote"]


def summaries(gl: GitLabDouble, iid: int, project: str = PROJECT) -> list[dict[str, Any]]:
    return [n for n in gl.notes(project, iid) if "mistral-review:summary" in n["body"]]


def test_gitlab_deliveries_are_checked_and_ignored_events_still_get_a_2xx(server: Server) -> None:
    opened = event("merge_request.open.gitlab-com", 90, "9" * 40)
    assert deliver(server, "Merge Request Hook", opened, token=None)[0] == 401
    assert deliver(server, "Merge Request Hook", opened, token="wrong")[0] == 401
    assert deliver(server, "Merge Request Hook", b"not json{")[0] == 400
    status, body = deliver(server, "Merge Request Hook", event("merge_request.update.title-description.gitlab-com", 90, "9" * 40))
    assert status == 200 and body["status"] == "ignored"
    assert deliver(server, "Pipeline Hook", {"object_kind": "pipeline"})[0] == 200
    assert ledger_of(server).jobs_for(PROJECT, 90, host="gitlab") == []
    assert server.deliver("ping", json.loads((FIXTURES / "webhooks" / "ping.json").read_text()))[0] == 200  # GitHub's route too


def test_an_opened_mr_is_reviewed_once_across_gitlab_retries_with_the_host_in_every_row(
        server: Server, gl: GitLabDouble, mistral: MistralDouble) -> None:
    head = uuid.uuid4().hex[:8] * 5
    open_mr(gl, 1, head)
    mistral.responder = first_added()
    payload = event("merge_request.open.gitlab-com", 1, head)
    answers = [deliver(server, "Merge Request Hook", payload, key="retried-key-1")[1]["status"] for _ in range(3)]
    reopened = deliver(server, "Merge Request Hook", event("merge_request.reopen.gitlab-com", 1, head))[1]
    assert answers == ["queued", "duplicate", "duplicate"] and reopened == {**reopened, "status": "duplicate", "of": "head"}
    wait_for(lambda: settled(server, 1, 1), what="the merge request's job to finish")
    assert len(diff_notes(gl, 1)) == 1 and len(summaries(gl, 1)) == 1 and gl.projects[PROJECT].mrs[1].drafts == []
    ledger = ledger_of(server)
    (job,) = ledger.jobs_for(PROJECT, 1, host="gitlab")
    assert (job.host, job.project_id, job.state) == ("gitlab", PROJECT_ID, "done")
    (review,) = ledger.reviews(repo=PROJECT, pr_number=1, host="gitlab")
    assert review.outcome == "reviewed" and review.pr_url.endswith(f"/{PROJECT}/-/merge_requests/1") and review.cost_usd > 0
    assert {call.host for call in ledger.calls(repo=PROJECT, pr_number=1)} == {"gitlab"}
    assert ledger.jobs_for(PROJECT, 1) == []  # a GitHub repo of the same name is another pull request
    assert ledger.month_spend("group", "acme", this_month())[0] >= review.cost_usd  # caps are configuration, not rows
    assert ledger.month_spend("group", "acme/platform", this_month())[0] >= review.cost_usd
    status, page = server.get("/dashboard", headers={"Authorization": "Bearer dash-token"})
    assert status == 200 and f'/{PROJECT}/-/merge_requests/1">gitlab:{PROJECT}!1</a>' in page and "group acme: $" in page
    out = io.StringIO()
    assert main(["spend", "--host", "gitlab", "--repo", PROJECT, "--format", "json"], env=server.env, out=out) == 0
    report = json.loads(out.getvalue())
    assert [(r["host"], r["repo"]) for r in report["repos"]] == [("gitlab", PROJECT)]
    assert any(p["pr_number"] == 1 and p["cost_usd"] > 0 for p in report["pull_requests"])


def test_a_draft_is_skipped_and_reviewed_once_marked_ready(server: Server, gl: GitLabDouble, mistral: MistralDouble) -> None:
    head = uuid.uuid4().hex[:8] * 5
    open_mr(gl, 2, head, draft=True)
    mistral.responder = first_added()
    draft = event("merge_request.open.gitlab-com", 2, head)
    draft["object_attributes"]["draft"] = True
    assert deliver(server, "Merge Request Hook", draft)[1] == {"status": "ignored", "reason": "draft merge request"}
    gl.projects[PROJECT].mrs[2].draft = False
    ready = event("merge_request.update.mark-ready.self-managed", 2, head)
    assert deliver(server, "Merge Request Hook", ready)[1]["status"] == "queued"
    wait_for(lambda: settled(server, 2, 1), what="the ready merge request's job")
    assert len(diff_notes(gl, 2)) == 1 and len(summaries(gl, 2)) == 1


def test_twenty_review_notes_by_non_members_record_nothing_and_a_developers_review_runs(
        server: Server, gl: GitLabDouble, mistral: MistralDouble) -> None:
    head = uuid.uuid4().hex[:8] * 5
    open_mr(gl, 3, head)
    mistral.responder = first_added()
    calls_before, requests_before = len(mistral.requests), len(gl.requests)
    jobs_before = ledger_of(server).job_counts()

    def review_note(user_id: int, note_id: int) -> dict[str, Any]:
        note = event("note.merge_request.command.gitlab-com", 3, head)
        note["object_attributes"].update(note="/review", id=note_id, author_id=user_id)
        note["user"].update(id=user_id, username=f"user{user_id}")
        return note

    # A reporter (21) and a stranger (999), ten notes each: refused at the webhook, before anything is recorded.
    answers = [deliver(server, "Note Hook", review_note(21 if n % 2 else 999, 7000 + n)) for n in range(20)]
    assert {(status, body["status"]) for status, body in answers} == {(200, "ignored")}
    assert "below Developer" in answers[1][1]["reason"]
    assert ledger_of(server).jobs_for(PROJECT, 3, host="gitlab") == [] and ledger_of(server).job_counts() == jobs_before
    assert len(mistral.requests) == calls_before and gl.notes(PROJECT, 3) == [] and gl.projects[PROJECT].mrs[3].awards == []
    assert {r.method for r in gl.requests[requests_before:]} == {"GET"}  # member look-ups only, no GitLab write
    assert deliver(server, "Note Hook", review_note(31, 7100))[1]["status"] == "queued"
    wait_for(lambda: settled(server, 3, 1), what="the developer's /review job")
    (award,) = gl.projects[PROJECT].mrs[3].awards
    assert award["name"] == "eyes" and award["awardable_id"] == 7100
    assert len(diff_notes(gl, 3)) == 1 and len(summaries(gl, 3)) == 1
    (job,) = ledger_of(server).jobs_for(PROJECT, 3, host="gitlab")
    assert job.state == "done"


def test_a_group_budget_that_is_spent_stops_reviews_in_its_projects(server: Server, gl: GitLabDouble,
                                                                    mistral: MistralDouble) -> None:
    head = uuid.uuid4().hex[:8] * 5
    open_mr(gl, 4, head, project=CAPPED)
    calls_before = len(mistral.requests)
    payload = event("merge_request.open.gitlab-com", 4, head, project=CAPPED, project_id=CAPPED_ID)
    assert deliver(server, "Merge Request Hook", payload)[1]["status"] == "queued"
    wait_for(lambda: settled(server, 4, 1, CAPPED), what="the capped project's job")
    assert len(mistral.requests) == calls_before and diff_notes(gl, 4, CAPPED) == []
    (summary,) = summaries(gl, 4, CAPPED)
    assert "| | this merge request |" in summary["body"] and "`src/requests/utils.py`: over-budget" in summary["body"]
    assert ledger_of(server).month_spend("group", "thrifty", this_month())[0] == 0.0


def test_a_worker_killed_mid_review_is_replaced_and_the_merge_request_gets_one_review(
        server: Server, gl: GitLabDouble, mistral: MistralDouble) -> None:
    head = uuid.uuid4().hex[:8] * 5
    open_mr(gl, 5, head)
    review, calls = first_added(), []

    def slow_first(body: dict[str, Any], attempt: int) -> Reply:
        calls.append(1)
        return Reply(review(body, attempt).content, delay=4.0 if len(calls) == 1 else 0.0)

    mistral.responder = slow_first
    before = len(mistral.requests)
    assert deliver(server, "Merge Request Hook", event("merge_request.open.gitlab-com", 5, head))[1]["status"] == "queued"
    wait_for(lambda: len(mistral.requests) > before, what="the model call to start")
    for doomed in server.workers:
        doomed.kill9()
    server.workers.clear()
    server.start_worker()
    wait_for(lambda: settled(server, 5, 1), timeout=60, what="the job to be taken over and finish")
    (job,) = ledger_of(server).jobs_for(PROJECT, 5, host="gitlab")
    assert job.state == "done" and job.attempts == 2
    assert len(diff_notes(gl, 5)) == 1 and len(summaries(gl, 5)) == 1 and gl.projects[PROJECT].mrs[5].drafts == []
