"""The Mistral double, driven by the real mistralai SDK over HTTP (and by raw urllib where the SDK would refuse)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import HTTPValidationError, ResponseValidationError, SDKError
from mistralai.client.models import ChatCompletionResponse

from tests.doubles.mistral import MistralDouble, Reply

MESSAGES: list[Any] = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
CALL: dict[str, Any] = {
    "model": "mistral-small-2603",
    "messages": MESSAGES,
    "temperature": 0.1,
    "max_tokens": 4000,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "review", "schema": {"type": "object"}, "strict": True},
    },
    "reasoning_effort": "none",
    "timeout_ms": 5000,
}


@pytest.fixture
def double() -> Iterator[MistralDouble]:
    """A running double."""
    with MistralDouble() as m:
        yield m


@pytest.fixture
def client(double: MistralDouble) -> Mistral:
    """A real SDK client (no retries: the SDK default) pointed at the double."""
    return Mistral(api_key="test-key", server_url=double.url)


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST raw JSON with urllib, returning status and decoded body."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(f"{url}/v1/chat/completions", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _text(response: ChatCompletionResponse) -> Any:
    """The assistant message content of a completion."""
    message = response.choices[0].message
    assert message is not None
    return message.content


def test_sdk_gets_content_and_usage(double: MistralDouble, client: Mistral) -> None:
    """The bot's real call shape validates, and the SDK parses the reply."""
    usage = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    double.queue(Reply(content='{"comments": [{"line": 3}]}', usage=usage))
    first = client.chat.complete(**CALL)
    second = client.chat.complete(**CALL)  # default responder, computed usage
    assert double.schema_errors == []
    assert _text(first) == '{"comments": [{"line": 3}]}' and _text(second) == '{"comments": []}'
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (7, 5, 12)
    assert first.model == "mistral-small-2603" and first.choices[0].finish_reason == "stop"
    prompt, completion = second.usage.prompt_tokens or 0, second.usage.completion_tokens or 0
    assert prompt > 0 and completion > 0 and second.usage.total_tokens == prompt + completion
    sent = double.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == "Bearer test-key"
    assert sent.body["reasoning_effort"] == "none" and sent.body["response_format"]["json_schema"]["strict"] is True
    assert double.user_messages() == ["u", "u"] and len(double.bodies()) == 2


def test_attempt_counts_identical_bodies(double: MistralDouble, client: Mistral) -> None:
    """`attempt` counts identical bodies, so a responder can fail twice then succeed."""
    double.responder = lambda body, attempt: Reply(status=503) if attempt <= 2 else Reply(content="ok")
    for _ in range(2):
        with pytest.raises(SDKError) as err:
            client.chat.complete(model="m", messages=MESSAGES)
        assert err.value.status_code == 503
    assert _text(client.chat.complete(model="m", messages=MESSAGES)) == "ok"
    other: list[Any] = [{"role": "user", "content": "other"}]
    with pytest.raises(SDKError):  # a different body starts again at attempt 1
        client.chat.complete(model="m", messages=other)
    assert double.schema_errors == []


def test_429_reaches_sdk_with_retry_after(double: MistralDouble, client: Mistral) -> None:
    """A scripted 429 surfaces as SDKError carrying status, header and Mistral's error body."""
    double.queue(Reply(status=429, headers={"Retry-After": "1"}))
    with pytest.raises(SDKError) as err:
        client.chat.complete(**CALL)
    assert err.value.status_code == 429
    assert err.value.headers["retry-after"] == "1"
    assert json.loads(err.value.body)["type"] == "rate_limited"
    assert len(double.requests) == 1  # no SDK retries by default


def test_invalid_body_gets_422_and_is_recorded(double: MistralDouble) -> None:
    """A body without messages is rejected like Mistral's HTTPValidationError and recorded."""
    status, body = _post(double.url, {"model": "m"}, {"Authorization": "Bearer k"})
    assert status == 422
    assert body["detail"][0]["loc"] == ["body"] and "'messages' is a required property" in body["detail"][0]["msg"]
    assert double.schema_errors and "messages" in double.schema_errors[0]
    assert double.requests[0].body == {"model": "m"}


def test_sdk_value_outside_schema_is_422(double: MistralDouble, client: Mistral) -> None:
    """What the SDK allows but the published schema does not (reasoning_effort="max") reaches the SDK as a 422."""
    with pytest.raises(HTTPValidationError):
        client.chat.complete(model="m", messages=MESSAGES, reasoning_effort="max")
    assert any("reasoning_effort" in e for e in double.schema_errors)


def test_missing_auth_is_401(double: MistralDouble) -> None:
    """Requests without a bearer token are refused."""
    status, body = _post(double.url, {"model": "m", "messages": MESSAGES}, {"Authorization": "Bearer "})
    assert (status, body) == (401, {"message": "Unauthorized"})


def test_delay_beyond_timeout_raises_httpx2_read_timeout(double: MistralDouble, client: Mistral) -> None:
    """A reply slower than timeout_ms raises httpx2's (unwrapped) ReadTimeout."""
    double.queue(Reply(delay=5.0))
    with pytest.raises(httpx2.ReadTimeout):
        client.chat.complete(model="m", messages=MESSAGES, timeout_ms=200)


def test_connection_refused_raises_httpx2_connect_error() -> None:
    """A stopped double refuses connections; the SDK raises httpx2.ConnectError."""
    with MistralDouble() as m:
        url = m.url
    with pytest.raises(httpx2.ConnectError):
        Mistral(api_key="k", server_url=url).chat.complete(model="m", messages=MESSAGES, timeout_ms=2000)


def test_omit_usage_is_rejected_by_the_sdk(double: MistralDouble, client: Mistral) -> None:
    """With omit_usage the double sends no usage key, and the SDK (usage required) fails response validation."""
    double.queue(Reply(omit_usage=True))
    with pytest.raises(ResponseValidationError) as err:
        client.chat.complete(model="m", messages=MESSAGES)
    assert "usage" not in json.loads(err.value.body)
    assert double.schema_errors == []


def test_off_schema_response_fails_loudly(double: MistralDouble, client: Mistral) -> None:
    """A scripted reply that breaks the response schema becomes a 500 and a recorded error."""
    double.queue(Reply(finish_reason="bogus"))
    with pytest.raises(SDKError) as err:
        client.chat.complete(model="m", messages=MESSAGES)
    assert err.value.status_code == 500
    assert len(double.schema_errors) == 1
    assert double.schema_errors[0].startswith("response choices.0.finish_reason: 'bogus' is not one of ['stop', ")
    double.reset()
    assert double.requests == [] and double.schema_errors == []
