"""GitLab webhooks: which deliveries trigger a review (real payloads), the token and signature checks over
the Flask route, and a `/review` note's author checked before anything is recorded (against the GitLab double
with real python-gitlab)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from bot.hosts.gitlab.client import GitLabClient
from bot.hosts.gitlab.events import CancelMergeRequest, Ignore, MergeRequestJob, route, sign
from bot.server.app import create_app
from bot.server.gitlab_hook import Refusal, member_check, register_gitlab_webhook
from bot.server.metrics import Metrics
from bot.server.settings import GitLabHookSettings, ServerSettings
from bot.server.worker import open_ledger
from tests.conftest import FIXTURES
from tests.doubles.gitlab import GitLabDouble
from tests.mergerequests import PROJECT, opened_mr

SECRET = "gitlab-hook-secret"
SIGNING = "whsec_" + base64.b64encode(b"sixteen byte key for tests").decode()
NOW = 1_760_000_000


def payload(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / "gitlab" / f"webhook.{name}.json").read_text()))


def test_merge_request_events_that_change_code_or_readiness_ask_for_a_review() -> None:
    opened = route("Merge Request Hook", payload("merge_request.open.gitlab-com"))
    assert isinstance(opened, MergeRequestJob) and opened.iid == 3 and opened.project_id == 72081820 and len(opened.head_sha) == 40
    assert isinstance(route("Merge Request Hook", payload("merge_request.reopen.gitlab-com")), MergeRequestJob)
    assert isinstance(route("Merge Request Hook", payload("merge_request.update.oldrev.gitlab-com")), MergeRequestJob)
    assert isinstance(route("Merge Request Hook", payload("merge_request.update.oldrev.gitlab-com-2020")), MergeRequestJob)
    ready = route("Merge Request Hook", payload("merge_request.update.mark-ready.self-managed"))
    assert isinstance(ready, MergeRequestJob) and ready.project_path == "sheather/test"
    assert isinstance(route("Merge Request Hook", payload("merge_request.open.docs")), MergeRequestJob)
    edited = route("Merge Request Hook", payload("merge_request.update.title-description.gitlab-com"))
    assert isinstance(edited, Ignore)
    assert isinstance(route("Merge Request Hook", payload("merge_request.close.gitlab-com")), CancelMergeRequest)
    assert isinstance(route("Merge Request Hook", payload("merge_request.merge.gitlab-com")), CancelMergeRequest)
    assert isinstance(route("Push Hook", payload("merge_request.open.gitlab-com")), Ignore)


def test_drafts_are_skipped_by_field_old_field_or_title_unless_asked() -> None:
    for change in ({"draft": True}, {"work_in_progress": True}, {"title": "Draft: tidy"}, {"title": "[WIP] tidy"}):
        data = payload("merge_request.open.gitlab-com")
        data["object_attributes"].update(change)
        assert route("Merge Request Hook", data) == Ignore("draft merge request")
        assert isinstance(route("Merge Request Hook", data, review_drafts=True), MergeRequestJob)


def test_a_review_note_is_a_rereview_job_and_other_notes_are_ignored() -> None:
    data = payload("note.merge_request.command.gitlab-com")
    assert isinstance(route("Note Hook", data), Ignore)  # "atlantis plan"
    data["object_attributes"]["note"] = "/review please"
    job = route("Note Hook", data)
    assert isinstance(job, MergeRequestJob) and job.rereview and job.user_id == 1755902 and job.iid == 2
    assert job.note_id == data["object_attributes"]["id"] and job.head_sha == f"note:{job.note_id}"
    assert isinstance(route("Note Hook", data, bot_username="lkysow"), Ignore)  # the bot's own note
    data["object_attributes"]["system"] = True
    assert isinstance(route("Note Hook", data), Ignore)


@pytest.fixture()
def submitted() -> list[tuple[str, Any]]:
    return []


def _client(submitted: list[tuple[str, Any]], may_not: Refusal = lambda job: None, **settings: Any) -> Any:
    app = Flask("test")

    def submit(delivery: str, event: str, job: Any) -> dict[str, Any]:
        if any(d == delivery for d, _ in submitted):
            return {"status": "duplicate", "of": "delivery"}
        submitted.append((delivery, job))
        return {"status": "queued", "job": len(submitted)}

    register_gitlab_webhook(app, GitLabHookSettings(**{"secret": SECRET, **settings}), submit, may_not, clock=lambda: NOW)
    return app.test_client()


def _post(client: Any, body: bytes, **headers: str) -> Any:
    return client.post("/webhook/gitlab", data=body, headers={"X-Gitlab-Event": "Merge Request Hook",
                                                               "Content-Type": "application/json", **headers})


def test_the_secret_token_is_checked_and_a_retried_delivery_is_queued_once(submitted: list[tuple[str, Any]]) -> None:
    client = _client(submitted)
    body = json.dumps(payload("merge_request.open.gitlab-com")).encode()
    assert _post(client, body).status_code == 401
    assert _post(client, body, **{"X-Gitlab-Token": "wrong"}).status_code == 401
    first = _post(client, body, **{"X-Gitlab-Token": SECRET, "Idempotency-Key": "k-1"})
    again = _post(client, body, **{"X-Gitlab-Token": SECRET, "Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202 and again.get_json()["status"] == "duplicate"
    assert len(submitted) == 1
    ignored = _post(client, json.dumps(payload("merge_request.update.title-description.gitlab-com")).encode(),
                    **{"X-Gitlab-Token": SECRET})
    assert ignored.status_code == 200 and ignored.get_json()["status"] == "ignored"
    assert _post(client, b"not json", **{"X-Gitlab-Token": SECRET}).status_code == 400


def test_a_configured_signing_token_is_preferred_and_checked(submitted: list[tuple[str, Any]]) -> None:
    client = _client(submitted, signing_token=SIGNING)
    body = json.dumps(payload("merge_request.open.gitlab-com")).encode()

    def signed(ts: int, key: str = SIGNING, wid: str = "msg-1") -> dict[str, str]:
        good = sign(body, webhook_id=wid, timestamp=ts, signing_token=key)
        return {"webhook-id": wid, "webhook-timestamp": str(ts), "webhook-signature": f"v1,bm90IGl0 {good}",
                "Idempotency-Key": wid}

    other = "whsec_" + base64.b64encode(b"another key").decode()
    assert _post(client, body, **{"X-Gitlab-Token": SECRET}).status_code == 401  # the signature is required
    assert _post(client, body, **signed(NOW, other)).status_code == 401
    assert _post(client, body, **signed(NOW - 301)).status_code == 401
    assert _post(client, body, **signed(NOW - 60)).status_code == 202 and len(submitted) == 1


@pytest.fixture()
def gl() -> Iterator[GitLabDouble]:
    with opened_mr("tiny-one-line-fix.diff") as double:
        yield double


def review_note(user_id: int, note_id: int, project_id: int = 7, iid: int = 3) -> bytes:
    """A real `/review` note payload by this user on the double's merge request."""
    note = payload("note.merge_request.command.gitlab-com")
    note["project"].update(id=project_id, path_with_namespace=PROJECT)
    note["merge_request"]["iid"] = iid
    note["object_attributes"].update(note="/review", id=note_id, author_id=user_id)
    note["user"].update(id=user_id, username=f"user{user_id}")
    return json.dumps(note).encode()


def _members(gl: GitLabDouble) -> Refusal:
    gl.add_user("glpat-r", "rita", 21), gl.add_user("glpat-d", "dev", 31)
    gl.projects[PROJECT].members.update({21: 20, 31: 30})
    client = GitLabClient(token="glpat-bot", url=gl.url, write_interval_s=0, max_wait_s=0.01)
    return member_check(lambda: client)


def _note(client: Any, body: bytes) -> Any:
    return _post(client, body, **{"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": SECRET})


def test_review_by_a_reporter_or_a_stranger_is_refused_at_the_webhook_and_by_a_developer_submitted(
        gl: GitLabDouble, submitted: list[tuple[str, Any]]) -> None:
    client = _client(submitted, _members(gl))
    refused = _note(client, review_note(21, 77))
    assert refused.status_code == 200 and refused.get_json()["status"] == "ignored"
    assert "below Developer" in refused.get_json()["reason"]
    assert _note(client, review_note(999, 78)).get_json()["status"] == "ignored"  # not a member at all
    assert submitted == [] and gl.projects[PROJECT].mrs[3].awards == []
    accepted = _note(client, review_note(31, 79))
    assert accepted.status_code == 202 and accepted.get_json()["status"] == "queued"
    ((_, job),) = submitted
    assert isinstance(job, MergeRequestJob) and (job.user_id, job.note_id, job.rereview) == (31, 79, True)


def test_an_author_whose_access_cannot_be_read_is_refused_with_a_200(gl: GitLabDouble,
                                                                      submitted: list[tuple[str, Any]]) -> None:
    client = _client(submitted, _members(gl))
    gl.fail_next("GET", r"/members/all/31$", status=500, body={"message": "500 Internal Server Error"}, times=9)
    answer = _note(client, review_note(31, 80))
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    assert "could not check the commenter's permission on GitLab" in answer.get_json()["reason"]
    assert submitted == []


class Recording:
    """A job queue that keeps the ids it is given."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def enqueue(self, job_id: str) -> None:
        self.ids.append(job_id)

    def ping(self) -> None:
        pass


def test_twenty_review_notes_by_non_members_record_nothing_and_a_developers_one_is_queued(
        gl: GitLabDouble, tmp_path: Path) -> None:
    _members(gl)
    settings = ServerSettings(data_dir=tmp_path, gitlab=GitLabHookSettings(secret=SECRET, token="glpat-bot", url=gl.url,
                                                                           write_interval_s=0, max_wait_s=0.01))
    ledger, queue = open_ledger(settings), Recording()
    client = create_app(settings, ledger=ledger, queue=queue, metrics=Metrics(dict)).test_client()
    before = len(gl.requests)
    answers = [_note(client, review_note(21 if n % 2 else 999, 500 + n)) for n in range(20)]
    assert {(a.status_code, a.get_json()["status"]) for a in answers} == {(200, "ignored")}
    assert ledger.jobs_for(PROJECT, 3, host="gitlab") == [] and sum(ledger.job_counts().values()) == 0
    assert queue.ids == [] and gl.projects[PROJECT].mrs[3].awards == [] and gl.notes(PROJECT, 3) == []
    assert {r.method for r in gl.requests[before:]} == {"GET"}  # one member look-up each; no write to GitLab
    assert _note(client, review_note(31, 600)).get_json()["status"] == "queued"
    (job,) = ledger.jobs_for(PROJECT, 3, host="gitlab")
    assert queue.ids == [job.id] and (job.comment_id, job.commenter) == (600, "31")
    ledger.close()
