"""No header and no cookie gets a 5xx: every webhook route, /dashboard and /metrics answer 2xx or 4xx to any value.

In-process through Flask's test client over the real app (real ledger and queue in a temp dir). A header reaches
the app as WSGI hands it on: any byte as one latin-1 character, so bytes are decoded that way here.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.hosts.github.events import sign as github_sign
from bot.hosts.gitlab.events import sign as gitlab_sign
from bot.server.ledger import Ledger
from bot.server.serve import build_app
from bot.server.sessions import COOKIE, SESSION_S, new_session
from bot.server.settings import GitLabHookSettings, ServerSettings
from tests.conftest import FIXTURES

SECRET, GITLAB_SECRET, DASHBOARD = "header-door-secret", "gitlab-header-secret", "dash-token"
SIGNING = "whsec_" + base64.b64encode(b"a signing key of 32 bytes, fixed").decode()
GITHUB_BODY = (FIXTURES / "webhooks" / "pull_request.opened.json").read_bytes()
GITLAB_BODY = (FIXTURES / "gitlab" / "webhook.merge_request.open.gitlab-com.json").read_bytes()


@dataclass(frozen=True)
class Door:
    """One route and the headers a valid request to it carries (the fuzz replaces some of them)."""

    name: str
    method: str
    path: str
    body: bytes
    hostile: tuple[str, ...]  # the headers it reads, beside Content-Type, Content-Length and Cookie

    def headers(self) -> dict[str, str]:
        """Return a valid delivery's headers (signed now), so a changed header is the only thing wrong."""
        if self.name == "github":
            return {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json",
                    "X-Hub-Signature-256": github_sign(self.body, SECRET)}
        base = {"X-Gitlab-Event": "Merge Request Hook", "Idempotency-Key": "k-1", "Content-Type": "application/json"}
        if self.name == "gitlab-token":
            return {**base, "X-Gitlab-Token": GITLAB_SECRET}
        if self.name == "gitlab-signed":
            now = int(time.time())
            return {**base, "webhook-id": "w-1", "webhook-timestamp": str(now),
                    "webhook-signature": gitlab_sign(self.body, webhook_id="w-1", timestamp=now, signing_token=SIGNING)}
        return {}  # no credentials: a cookie is read only when no Bearer token came first


GITLAB_HEADERS = ("X-Gitlab-Event", "Idempotency-Key", "webhook-id", "X-Gitlab-Event-UUID")
DOORS = (
    Door("github", "POST", "/webhook", GITHUB_BODY,
         ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256", "Transfer-Encoding")),
    Door("gitlab-token", "POST", "/webhook/gitlab", GITLAB_BODY, (*GITLAB_HEADERS, "X-Gitlab-Token")),
    Door("gitlab-signed", "POST", "/webhook/gitlab", GITLAB_BODY,
         (*GITLAB_HEADERS, "webhook-timestamp", "webhook-signature")),
    Door("dashboard", "GET", "/dashboard", b"", ("Authorization",)),
    Door("metrics", "GET", "/metrics", b"", ("Authorization",)),
)
SPECIAL = {"Content-Type": "CONTENT_TYPE", "Content-Length": "CONTENT_LENGTH"}


def _environ_key(name: str) -> str:
    return SPECIAL.get(name) or "HTTP_" + name.upper().replace("-", "_")


def _session_cookie(expires: str, *, signed: bool) -> str:
    """A cookie that runs out at `expires`: signed, a session made SESSION_S before (a signed time stops at 2**64)."""
    if not signed:
        return f"id.{expires}.bad"
    made = min(int(expires[:30]), 2**64 - 1 + SESSION_S) - SESSION_S
    return new_session(DASHBOARD, now=max(0, made))


# int() refuses more than 4,300 digits; the edges and the far side of each bound are drawn as often as the rest.
DIGIT_RUNS = st.one_of(st.sampled_from([4301, 5000]), st.sampled_from([1, 12, 13, 19, 20, 4300]),
                       st.integers(1, 6000)).map(lambda n: "9" * n)
HEADER_VALUES = (st.text(max_size=60)
                 | st.binary(max_size=60).map(lambda raw: raw.decode("latin-1"))
                 | DIGIT_RUNS
                 | st.sampled_from(["\xb2", "\xb9\xb3", "\u0663", "-1", " 7", "1e9", "v1,", "sha256=", "Bearer ",
                                    "Basic ", "chunked", "\x00", "é" * 40]))
# A session cookie whose expiry is any run of digits, signed with the dashboard's key or not.
COOKIES = st.builds(lambda digits, signed: f"{COOKIE}={_session_cookie(digits, signed=signed)}", DIGIT_RUNS,
                    st.booleans())


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[Door, list[tuple[str, str]]]:
    """A route, and one to three of the headers it reads (or Content-*, or Cookie) set to any value."""
    door = draw(st.sampled_from(DOORS))
    names = st.sampled_from((*door.hostile, "Content-Type", "Content-Length", "Cookie"))
    headers = st.tuples(names, HEADER_VALUES).flatmap(
        lambda pair: st.just(pair) if pair[0] != "Cookie" else st.tuples(st.just("Cookie"), COOKIES | HEADER_VALUES))
    return door, draw(st.lists(headers, min_size=1, max_size=3))


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FlaskClient]:
    token, signed = _client(tmp_path_factory.mktemp("token"), secret=GITLAB_SECRET), \
        _client(tmp_path_factory.mktemp("signed"), signing_token=SIGNING)
    return {"gitlab-token": token, "gitlab-signed": signed, "github": signed, "dashboard": signed, "metrics": signed}


def _client(data_dir: Path, **gitlab: str) -> FlaskClient:
    settings = ServerSettings(webhook_secret=SECRET, github_token="ghp_x", dashboard_token=DASHBOARD, data_dir=data_dir,
                              max_body_bytes=1024 * 1024, gitlab=GitLabHookSettings(token="glpat-bot", **gitlab))
    return build_app(settings).test_client(use_cookies=False)  # the Cookie header is the test's to write


def _send(clients: dict[str, FlaskClient], door: Door, changed: list[tuple[str, str]]) -> Any:
    overrides = {_environ_key(name): door.headers().get(name, "") for name in door.headers()}
    overrides.update({_environ_key(name): value for name, value in changed})
    client = clients[door.name]
    return client.open(door.path, method=door.method, data=door.body, environ_overrides=overrides)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(hostile_requests())
def test_any_header_or_cookie_on_any_route_is_answered_2xx_or_4xx(clients: dict[str, FlaskClient],
                                                                     case: tuple[Door, list[tuple[str, str]]]) -> None:
    door, changed = case
    answer = _send(clients, door, changed)
    assert 200 <= answer.status_code < 500 and answer.status_code not in (300, 301, 302), (door.name, changed)


@pytest.mark.parametrize("door", [d for d in DOORS if d.method == "POST"], ids=lambda d: d.name)
def test_a_valid_delivery_is_accepted_so_the_fuzz_reaches_past_the_checks(clients: dict[str, FlaskClient],
                                                                          door: Door) -> None:
    answer = _send(clients, door, [])
    assert answer.status_code in (200, 202) and answer.get_json()["status"] in ("queued", "duplicate", "ignored")


@pytest.mark.parametrize("value", ["9" * 5000, "\xb2", "1\xb2", "\u0663" * 3, str(2**70)])
def test_a_gitlab_timestamp_of_any_length_or_digit_is_a_401(clients: dict[str, FlaskClient], value: str) -> None:
    door = next(d for d in DOORS if d.name == "gitlab-signed")
    answer = _send(clients, door, [("webhook-timestamp", value)])
    assert answer.status_code == 401 and "webhook-timestamp" in answer.get_json()["error"]


@pytest.mark.parametrize("name", ["X-Gitlab-Token", "X-Gitlab-Event", "Idempotency-Key", "webhook-id"])
def test_a_non_ascii_byte_in_a_gitlab_header_is_no_5xx(clients: dict[str, FlaskClient], name: str) -> None:
    for door in (d for d in DOORS if d.name.startswith("gitlab")):
        for value in (b"\xb2", b"\xff\xfe", "é".encode(), b"\x00"):
            answer = _send(clients, door, [(name, value.decode("latin-1"))])
            assert answer.status_code < 500, (door.name, name, value)


@pytest.mark.parametrize("path", ["/dashboard", "/metrics"])
@pytest.mark.parametrize("signed", [True, False])
def test_a_session_cookie_whose_expiry_has_5000_digits_is_a_401(clients: dict[str, FlaskClient], path: str,
                                                                 signed: bool) -> None:
    cookie = f"{COOKIE}={_session_cookie('9' * 5000, signed=signed)}"
    assert clients["dashboard"].get(path, environ_overrides={"HTTP_COOKIE": cookie}).status_code == 401
    fresh = f"{COOKIE}={_session_cookie(str(int(time.time()) + 60), signed=True)}"
    assert clients["dashboard"].get(path, environ_overrides={"HTTP_COOKIE": fresh}).status_code == 200


@pytest.mark.parametrize("door", [d for d in DOORS if d.method == "POST"], ids=lambda d: d.name)
def test_a_delivery_id_is_stored_printable_and_at_most_200_characters(tmp_path: Path, door: Door) -> None:
    client = _client(tmp_path, secret=GITLAB_SECRET, signing_token=SIGNING if door.name == "gitlab-signed" else "")
    header = "X-GitHub-Delivery" if door.name == "github" else "Idempotency-Key"
    answer = _send({door.name: client}, door, [(header, "\x00id\x1b[31m\u2028" + "x" * 5000)])
    assert answer.status_code == 202 and answer.get_json()["status"] == "queued"
    ledger = Ledger.for_data_dir(tmp_path)
    repo, number = ("Codertocat/Hello-World", 2) if door.name == "github" else ("demoaccount2-commits-group/test_ci_tmp", 3)
    (job,) = ledger.jobs_for(repo, number, host="github" if door.name == "github" else "gitlab")
    assert job.delivery_id == "id[31m" + "x" * 191
