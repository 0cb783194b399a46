"""The GitLab webhook front door never answers 5xx to input, and a GitLab-only server has no GitHub door.

In-process through Flask's test client over the real app (real ledger and queue in a temp dir), with real
payloads from tests/fixtures/gitlab mutated at random.
"""

from __future__ import annotations

import copy
import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.hosts.gitlab.events import CancelMergeRequest, Ignore, MergeRequestJob, PayloadError, route
from bot.server.ledger import Ledger
from bot.server.serve import build_app
from bot.server.settings import GitLabHookSettings, ServerSettings
from tests.conftest import FIXTURES
from tests.doubles.gitlab import GitLabDouble

SECRET = "gitlab-front-door-secret"
MB = 1024 * 1024
NAMES = {"Merge Request Hook": ["merge_request.open.gitlab-com", "merge_request.update.oldrev.gitlab-com",
                                "merge_request.update.mark-ready.self-managed", "merge_request.close.gitlab-com"],
         "Note Hook": ["note.merge_request.command.gitlab-com"]}
KEYS = ("object_attributes", "project", "iid", "id", "path_with_namespace", "last_commit", "action", "note",
        "merge_request", "user", "changes", "draft", "title", "oldrev", "noteable_type", "system", "author_id")


def _payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "gitlab" / f"webhook.{name}.json").read_text(encoding="utf-8"))
    if data["object_kind"] == "note":
        data["object_attributes"]["note"] = "/review"
    return data


PAYLOADS = [(event, _payload(name)) for event, names in NAMES.items() for name in names]


def _app(data_dir: Path, gitlab_url: str = "https://gitlab.com", **github: Any) -> FlaskClient:
    settings = ServerSettings(data_dir=data_dir, max_body_bytes=MB, **github,
                              gitlab=GitLabHookSettings(secret=SECRET, token="glpat-bot", url=gitlab_url, max_wait_s=0.01))
    return build_app(settings).test_client()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """The app, with a GitLab double to ask about `/review` notes' authors (none of them is a member)."""
    with GitLabDouble() as gl, _app(tmp_path_factory.mktemp("gitlab-front-door"), gl.url) as test_client:
        yield test_client
    assert gl.crashes == []


def _post(client: FlaskClient, event: str, body: bytes, token: str | None = SECRET, key: str = "") -> tuple[int, Any]:
    headers = {"X-Gitlab-Event": event, "Content-Type": "application/json", "Idempotency-Key": key or str(hash(body))}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    answer = client.post("/webhook/gitlab", data=body, headers=headers)
    return answer.status_code, answer.get_json(silent=True)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.sampled_from(PAYLOADS), st.lists(st.tuples(st.sampled_from(KEYS), st.none() | st.booleans()
                                                     | st.integers(min_value=-(2**70), max_value=2**70)
                                                     | st.text(max_size=12) | st.lists(st.integers(), max_size=2)),
                                           max_size=4))
def test_the_gitlab_parser_returns_a_route_or_a_payload_error_for_any_json(
        case: tuple[str, dict[str, Any]], changes: list[tuple[str, Any]]) -> None:
    event, payload = copy.deepcopy(case[0]), copy.deepcopy(case[1])
    for key, value in changes:  # set the key where it occurs at the top two levels, or at the top
        holders = [payload] + [v for v in payload.values() if isinstance(v, dict) and key in v]
        holders[-1][key] = value
    try:
        decision = route(event, payload)
    except PayloadError as exc:
        assert str(exc)
        return
    assert isinstance(decision, (MergeRequestJob, CancelMergeRequest, Ignore))
    if not isinstance(decision, Ignore):  # what reaches the ledger fits its columns
        assert 0 < decision.iid < 2**31 and 0 < decision.project_id < 2**63 and "\x00" not in decision.project_path


def test_five_hundred_hostile_gitlab_deliveries_get_no_5xx(client: FlaskClient) -> None:
    rng, seen = random.Random(13), Counter[int]()
    for _ in range(500):
        event, payload = copy.deepcopy(rng.choice(PAYLOADS))
        for _ in range(rng.randint(0, 3)):
            target = rng.choice([payload] + [v for v in payload.values() if isinstance(v, dict)])
            target[rng.choice(KEYS)] = rng.choice([None, -1, 2**65, "", "x" * 300, "a/../b", "\x00", [], {}, True, 7])
        body = json.dumps(payload).encode() if rng.random() < 0.9 else rng.choice([b"{", b"[]", b"\xff", b'"s"'])
        token = rng.choice([SECRET] * 8 + [None, "wrong", "é"])
        status, answer = _post(client, rng.choice([event] * 9 + ["Push Hook"]), body, token)
        assert status < 500 and isinstance(answer, dict) and set(answer) & {"status", "error"}, (body[:200], status)
        seen[status] += 1
    assert {200, 202, 400, 401} <= set(seen) and seen[202] >= 50 and seen[400] >= 20, seen


def test_an_oversized_gitlab_body_is_a_413(client: FlaskClient) -> None:
    assert _post(client, "Merge Request Hook", b" " * (MB + 1))[0] == 413


def test_closing_a_merge_request_drops_its_queued_jobs(tmp_path: Path) -> None:
    with _app(tmp_path) as client:
        opened = _payload("merge_request.open.gitlab-com")
        status, answer = _post(client, "Merge Request Hook", json.dumps(opened).encode())
        assert (status, answer["status"]) == (202, "queued")
        closed = _payload("merge_request.close.gitlab-com")
        closed["object_attributes"]["iid"] = opened["object_attributes"]["iid"]
        closed["project"] = opened["project"]
        assert _post(client, "Merge Request Hook", json.dumps(closed).encode())[1] == {"status": "cancelled", "jobs": 1}
    path, iid = opened["project"]["path_with_namespace"], opened["object_attributes"]["iid"]
    (job,) = Ledger.for_data_dir(tmp_path).jobs_for(path, iid, host="gitlab")
    assert (job.state, job.detail) == ("dropped", "pr closed")


def test_a_gitlab_only_server_has_no_github_route(tmp_path: Path) -> None:
    with _app(tmp_path) as client:
        assert client.post("/webhook", data=b"{}", headers={"X-GitHub-Event": "ping"}).status_code == 404
    with _app(tmp_path, github_token="ghp_x", webhook_secret="s") as both:
        assert both.post("/webhook", data=b"{}", headers={"X-GitHub-Event": "ping"}).status_code == 401


@pytest.mark.parametrize("env,says", [
    ({"GITLAB_TOKEN": "glpat-bot"}, "GITLAB_WEBHOOK_SECRET (or GITLAB_WEBHOOK_SIGNING_TOKEN) is not"),
    ({"GITLAB_WEBHOOK_SECRET": "s"}, "GITLAB_TOKEN is not"),
    ({"GITLAB_WEBHOOK_SECRET": "s", "GITLAB_TOKEN": "glcbt-64_abc"}, "GITLAB_TOKEN is a CI job token"),
    ({}, "or GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET for GitLab"),
])
def test_a_server_without_a_usable_host_is_one_line_and_exit_2(env: dict[str, str], says: str, tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["serve", "--port", "9", "--no-worker"], env={**env, "MISTRAL_API_KEY": "k",
                                                               "MISTRAL_REVIEW_DATA_DIR": str(tmp_path)}, err=err)
    assert code == 2 and says in err.getvalue() and err.getvalue().count("\n") == 1 and "glcbt-64_abc" not in err.getvalue()
