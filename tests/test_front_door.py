"""The webhook front door never answers 5xx to input: bad signatures, credentials and payloads are 4xx.

The volume runs in-process through Flask's test client over the real app (real ledger and queue in a
temp dir); tests/test_front_door_gunicorn.py covers what only a real server shows (chunked, slow clients).
"""

from __future__ import annotations

import base64
import copy
import json
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.hosts.github.events import PayloadError, route, sign
from bot.server.serve import build_app
from bot.server.settings import ServerSettings
from tests.conftest import FIXTURES

SECRET, TOKEN = "front-door-secret", "dash-token-ü"
MB = 1024 * 1024
EVENTS = {"pull_request": ["pull_request.opened.json", "pull_request.synchronize.json", "pull_request.closed.json",
                           "pull_request.ready_for_review.with-installation.json"],
          "issue_comment": ["issue_comment.created.on-pull-request.json", "issue_comment.created.with-installation.json"]}


def _fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "webhooks" / name).read_text(encoding="utf-8"))
    return payload


def _review_command(payload: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    out["comment"]["body"] = "/review"
    return out


FIXTURE_PAYLOADS = [(event, _fixture(name)) for event, names in EVENTS.items() for name in names]
FIXTURE_PAYLOADS += [("issue_comment", _review_command(p)) for e, p in FIXTURE_PAYLOADS if e == "issue_comment"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    data_dir = tmp_path_factory.mktemp("front-door")
    app = build_app(ServerSettings(webhook_secret=SECRET, data_dir=data_dir, dashboard_token=TOKEN,
                                   max_body_bytes=1 * MB))
    with app.test_client() as test_client:
        yield test_client


def _deliver(client: FlaskClient, event: str, body: bytes, signature: str | None = "good",
             **headers: str) -> tuple[int, dict[str, Any]]:
    sent = {"X-GitHub-Event": event, "X-GitHub-Delivery": headers.pop("delivery", "d-" + str(hash(body))),
            "Content-Type": "application/json", **headers}
    if signature is not None:
        sent["X-Hub-Signature-256"] = sign(body, SECRET) if signature == "good" else signature
    answer = client.post("/webhook", data=body, headers=sent)
    return answer.status_code, answer.get_json(silent=True) or {}


def test_a_non_ascii_signature_is_a_401_not_a_crash(client: FlaskClient) -> None:
    body = json.dumps(_fixture("ping.json")).encode()
    for signature in ("sha256=" + "é" * 64, "sha256=ÿ", "sha256=" + "\x85" * 3, "é=abc"):
        status, answer = _deliver(client, "ping", body, signature)
        assert status == 401 and "signature" in answer["error"].lower(), (signature, status, answer)
    assert _deliver(client, "ping", body)[0] == 200


def test_non_ascii_dashboard_and_metrics_credentials_are_a_401(client: FlaskClient) -> None:
    odd = base64.b64encode("admin:pässwörd".encode("latin-1")).decode()  # not UTF-8 once decoded
    for headers in ({"Authorization": "Bearer ünïcode"}, {"Authorization": "Bearer \x85\xff"},
                    {"Authorization": f"Basic {odd}"}, {"Authorization": "Basic ÿÿÿÿ"}):
        assert client.get("/metrics", headers=headers).status_code == 401, headers
        assert client.get("/dashboard", headers=headers).status_code == 401, headers
    assert client.get("/dashboard?token=%C3%BC%FF").status_code == 401
    for cookie in ("ünïcode", f"x.{2**40}.sïgnätüre"):
        client.set_cookie("mr_dashboard", cookie)
        assert client.get("/dashboard").status_code == 401, cookie
    client.delete_cookie("mr_dashboard")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("event,mutate,reason", [
    ("pull_request", lambda p: p.pop("pull_request"), "pull_request is missing"),
    ("pull_request", lambda p: p["pull_request"].update(number="12"), "pull_request.number"),
    ("pull_request", lambda p: p["pull_request"].update(number=2**70), "pull_request.number"),
    ("pull_request", lambda p: p["pull_request"].update(number=True), "pull_request.number"),
    ("pull_request", lambda p: p["pull_request"].update(head=[]), "pull_request.head"),
    ("pull_request", lambda p: p["pull_request"]["head"].update(sha="\x00" * 40), "pull_request.head.sha"),
    ("pull_request", lambda p: p.update(repository="octo/x"), "repository"),
    ("pull_request", lambda p: p["repository"].update(full_name="a/b/../c\x00"), "repository.full_name"),
    ("pull_request", lambda p: p.update(installation={"id": -4}), "installation.id"),
    ("issue_comment", lambda p: p["comment"].pop("id"), "comment.id"),
    ("issue_comment", lambda p: p["comment"].update(user=None), "comment.user"),
    ("issue_comment", lambda p: p["issue"].update(number=[1]), "issue.number"),
])
def test_signed_but_malformed_payloads_get_a_400_with_the_reason(client: FlaskClient, event: str, mutate: Any,
                                                                 reason: str) -> None:
    name = "pull_request.opened.json" if event == "pull_request" else "issue_comment.created.on-pull-request.json"
    payload = _fixture(name)
    if event == "issue_comment":
        payload = _review_command(payload)
    mutate(payload)
    status, answer = _deliver(client, event, json.dumps(payload).encode())
    assert status == 400 and reason in answer["error"], answer


def test_deep_nesting_huge_numbers_and_non_objects_are_400(client: FlaskClient) -> None:
    for body in (b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                 b'{"action": ' + b"9" * 5000 + b"}", b"[1, 2]", b'"text"', b"\xff\xfe{}", b""):
        status, answer = _deliver(client, "pull_request", body)
        assert status == 400 and answer["error"], (body[:20], status)


def test_a_body_over_the_limit_is_413_before_the_signature_is_checked(client: FlaskClient) -> None:
    big = b"{" + b" " * MB + b"}"
    assert _deliver(client, "ping", big, signature="sha256=" + "0" * 64)[0] == 413
    assert _deliver(client, "ping", big)[0] == 413
    exactly = b"{" + b" " * (MB - 2) + b"}"
    assert _deliver(client, "ping", exactly)[0] == 200


# ---------------------------------------------------------------- the fuzz

# The fields the routes read (and their parents): most mutations land on these, the rest anywhere.
READ_KEYS = {"action", "pull_request", "number", "head", "sha", "draft", "repository", "full_name", "installation",
             "id", "issue", "comment", "body", "user", "login", "changes", "base"}
ODD_TEXT = ["", "\x00", "é" * 3, "\u2028", "a/b", "a" * 300, "/review", "0" * 40, "-1", "null", "\ud800"]
ODD_NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64, 10**400, 1.5, float("inf"), True, False]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node of a JSON document (dict keys and list indexes)."""
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and roll < 0.3:
        return {rng.choice(sorted(READ_KEYS) + ODD_TEXT): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    if roll < 0.6:
        return rng.choice(ODD_TEXT + ["".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(12)))])
    return rng.choice([*ODD_NUMBERS, None, rng.randrange(-(2**70), 2**70)])


def mutate(rng: random.Random, payload: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a real delivery with a few nodes deleted or replaced by odd JSON."""
    payload = copy.deepcopy(payload)
    for _ in range(rng.randrange(5)):
        paths = [p for p in _paths(payload) if p]
        read = [p for p in paths if p[-1] in READ_KEYS]
        path = rng.choice(read if read and rng.random() < 0.8 else paths)
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.4:
            del parent[path[-1]]
        else:
            parent[path[-1]] = _random_json(rng)
    return payload


def _header_text(rng: random.Random) -> str:
    return "".join(chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0xA0, 0x100)])) for _ in range(rng.randrange(70)))


def hostile_delivery(rng: random.Random) -> tuple[bytes, dict[str, str]]:
    """A delivery an attacker might send: any event name, body, signature and headers."""
    kind = rng.choice(["mutated"] * 5 + ["json", "bytes", "nested"])
    if kind == "mutated":
        event, payload = rng.choice(FIXTURE_PAYLOADS)
        body = json.dumps(mutate(rng, payload)).encode()
    else:
        event = rng.choice([*EVENTS, "ping", "installation", _header_text(rng)])
        depth = rng.randrange(1, 5000)
        body = {"json": lambda: json.dumps(_random_json(rng)).encode(), "bytes": lambda: rng.randbytes(rng.randrange(300)),
                "nested": lambda: b'{"action":' * depth + b"1" + b"}" * depth}[kind]()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": _header_text(rng),
               "Content-Type": rng.choice(["application/json", "text/plain", "", "multipart/form-data; boundary=x"])}
    signature = rng.choice(["good"] * 4 + ["none", "random"])
    if signature == "good":
        headers["X-Hub-Signature-256"] = sign(body, SECRET)
    elif signature == "random":
        headers["X-Hub-Signature-256"] = rng.choice(["sha256=", ""]) + _header_text(rng)
    return body, headers


def test_a_thousand_hostile_deliveries_get_no_5xx(client: FlaskClient) -> None:
    rng, seen = random.Random(11), Counter[int]()
    for _ in range(1000):
        body, headers = hostile_delivery(rng)
        answer = client.post("/webhook", data=body, headers=headers)
        assert answer.status_code < 500, (body[:300], headers, answer.get_data()[:300])
        assert set(answer.get_json()) & {"status", "error"}
        seen[answer.status_code] += 1
        if rng.random() < 0.1:  # the other doors: dashboard and metrics with odd credentials
            _odd_credentials(client, rng)
    # Only worth something if the inputs get past the signature and the parser, and some are refused by it.
    assert {200, 202, 400, 401} <= set(seen) and seen[400] >= 50 and seen[202] >= 50, seen


def _odd_credentials(client: FlaskClient, rng: random.Random) -> None:
    secret = rng.choice([TOKEN, _header_text(rng), ""])
    raw = (f"{_header_text(rng)}:{secret}").encode(rng.choice(["utf-8", "latin-1"]))
    header = rng.choice([f"Bearer {secret}", f"Basic {base64.b64encode(raw).decode()}", f"Basic {_header_text(rng)}",
                         _header_text(rng)])
    path = rng.choice(["/metrics", "/dashboard", f"/dashboard?token={rng.choice(['%FF%FE', '%C3%BC', secret])}"])
    client.set_cookie("mr_dashboard", rng.choice([secret, _header_text(rng)]))
    answer = client.get(path, headers={"Authorization": header})
    client.delete_cookie("mr_dashboard")
    assert answer.status_code in (200, 303, 401), (path, header, answer.status_code)


JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
               | st.floats(allow_nan=False) | st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(sorted(READ_KEYS)) | st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.sampled_from(FIXTURE_PAYLOADS), st.lists(st.tuples(st.sampled_from(sorted(READ_KEYS)), JSON_VALUES), max_size=4))
def test_the_event_parser_returns_a_route_or_a_payload_error_for_any_json(
        case: tuple[str, dict[str, Any]], changes: list[tuple[str, Any]]) -> None:
    event, payload = case
    payload = copy.deepcopy(payload)
    for key, value in changes:  # set the key wherever it occurs at the top two levels, or at the top
        holders = [payload] + [v for v in payload.values() if isinstance(v, dict) and key in v]
        holders[-1][key] = value
    try:
        route(event, payload)
    except PayloadError as exc:
        assert str(exc)
