"""Model servers as self-hosting teams run them (llama.cpp, vLLM, Ollama), emulated by the Mistral double.

A server that refuses json_schema or reasoning_effort, ignores the model name, cuts a reply at
max_tokens, or reads a large prompt slowly: the review still completes, or fails loudly with
what was not reviewed, and every attempt's cost is booked.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.core.diff import parse_diff
from bot.core.settings import Settings
from bot.llm.mistral import model_from_settings
from bot.llm.negotiation import ServerTerms, refused_field
from bot.llm.tokens import TekkenCounter
from bot.review.engine import plan_review, run_review
from bot.review.prompting import Prompts
from tests.conftest import diff_bytes
from tests.doubles.mistral import (
    LLAMA_CPP_PYTHON_REFUSAL,
    NO_REASONING_EFFORT,
    MistralDouble,
    Reply,
    like_llama_cpp_python,
    without_reasoning_effort,
)
from tests.modelreplies import first_added
from tests.test_review_cli import MEDIUM, TINY, _env, _json, _run

CUT = '{"comments": [{"path": "src/requests/utils.py", "line": 1054, "side": "RIGHT", "quote": "f\\"Inva'


def _formats(double: MistralDouble) -> list[str]:
    return [(b.get("response_format") or {}).get("type", "none") for b in double.bodies()]


def test_a_server_that_refuses_json_schema_with_a_500_gets_json_object_once(
        mistral: MistralDouble, caplog: pytest.LogCaptureFixture) -> None:
    mistral.responder = like_llama_cpp_python(first_added())
    env = _env(mistral, MISTRAL_REVIEW_CONCURRENCY="1", MISTRAL_REVIEW_REQUEST_TOKENS="8000")
    with caplog.at_level(logging.WARNING):
        code, result = _json(["review", "--diff-file", MEDIUM], env)
    batches = len(result["batches"])
    assert code == 0 and batches > 2 and len(result["comments"]) == batches
    # one extra call in all: later batches start from what the server taught us, and no retry was burnt
    assert _formats(mistral) == ["json_schema"] + ["json_object"] * batches
    assert sum("refused" in r.getMessage() for r in caplog.records) == 1
    assert "json_schema -> json_object" in caplog.text


def test_a_server_that_takes_no_response_format_at_all_gets_none(mistral: MistralDouble) -> None:
    def respond(body: dict[str, Any], attempt: int) -> Reply:
        if "response_format" in body:
            return Reply(status=400, error_body='{"error": "response_format is not supported by this server"}')
        return Reply(f"```json\n{first_added()(body, attempt).content}\n```")

    mistral.responder = respond
    code, result = _json(["review", "--diff-file", TINY], _env(mistral, MISTRAL_REVIEW_RETRY_ATTEMPTS="1"))
    assert code == 0 and len(result["comments"]) == 1
    assert _formats(mistral) == ["json_schema", "json_object", "none"]


def test_a_server_that_refuses_reasoning_effort_gets_a_request_without_it(mistral: MistralDouble) -> None:
    mistral.responder = without_reasoning_effort(first_added())
    code, result = _json(["review", "--diff-file", TINY], _env(mistral))
    assert code == 0 and len(result["comments"]) == 1
    assert ["reasoning_effort" in b for b in mistral.bodies()] == [True, False]


@pytest.mark.parametrize("setting", ["json_object", "none"])
def test_the_response_format_setting_is_what_is_sent(mistral: MistralDouble, setting: str) -> None:
    fenced = first_added()

    def respond(body: dict[str, Any], attempt: int) -> Reply:  # a server with no format fences its JSON
        reply = fenced(body, attempt)
        return Reply(f"Here is the review:\n```json\n{reply.content}\n```")

    mistral.responder = respond
    code, result = _json(["review", "--diff-file", TINY], _env(mistral, MISTRAL_REVIEW_RESPONSE_FORMAT=setting))
    assert code == 0 and len(result["comments"]) == 1 and _formats(mistral) == [setting]


def test_a_server_that_ignores_the_model_name_is_noticed_and_recorded(
        mistral: MistralDouble, caplog: pytest.LogCaptureFixture) -> None:
    mistral.responder = lambda body, attempt: Reply(model="gemma-3-270m-it")
    env = _env(mistral, MISTRAL_REVIEW_CONCURRENCY="1", MISTRAL_REVIEW_REQUEST_TOKENS="8000")
    with caplog.at_level(logging.WARNING):
        code, result = _json(["review", "--diff-file", MEDIUM], env)
    assert code == 0 and len(mistral.requests) > 2
    assert {b["model"] for b in mistral.bodies()} == {"mistral-small-2603"}
    assert result["usage"]["model"] == "gemma-3-270m-it"
    assert sum("gemma-3-270m-it" in r.getMessage() for r in caplog.records) == 1  # once, not per batch


def test_a_reply_cut_at_max_tokens_is_retried_as_two_halves(mistral: MistralDouble) -> None:
    calls = iter([Reply(CUT, finish_reason="length")])
    answer = first_added()
    mistral.responder = lambda body, attempt: next(calls, None) or answer(body, attempt)
    code, result = _json(["review", "--diff-file", TINY], _env(mistral))
    assert code == 0 and len(mistral.requests) == 3  # the cut reply, then each half once
    # the one-line fix is cut between its removed and its added line: one half holds each
    halves = mistral.user_messages()[1:]
    assert ["\n-1054|" in h for h in halves] == [True, False] and ["\n+1054|" in h for h in halves] == [False, True]
    assert len(result["comments"]) == 1 and result["dropped"] == []
    assert result["usage"]["calls"] == 3  # the cut reply was billed too


def test_a_reply_that_stays_cut_fails_its_batch_loudly(mistral: MistralDouble) -> None:
    mistral.responder = lambda body, attempt: Reply(CUT, finish_reason="length")
    code, result = _json(["review", "--diff-file", TINY], _env(mistral))
    assert code == 3 and len(mistral.requests) == 3  # no deeper than one split
    (batch,) = result["batches"]
    assert batch["status"] == "failed" and batch["failed_files"] == ["src/requests/utils.py"]
    assert "finish_reason: length" in batch["error"] and result["usage"]["calls"] == 3
    assert result["dropped"] == []  # the cut replies' partial comments are not salvaged
    code, out, _ = _run(["review", "--diff-file", TINY], _env(mistral))
    assert code == 3 and "No problems found." not in out
    assert "failed (src/requests/utils.py)" in out


@pytest.mark.parametrize(("per_1k", "reviewed"), [("0", False), ("5", True)])
def test_a_slow_server_fits_the_scaled_timeout_but_not_a_fixed_one(
        mistral: MistralDouble, per_1k: str, reviewed: bool) -> None:
    # ~800 input tokens: 0.5 s fixed, or 0.5 s + 5 s per 1,000 tokens (about 4.5 s); the server takes 1.5 s
    mistral.responder = lambda body, attempt: Reply(delay=1.5)
    env = _env(mistral, MISTRAL_REVIEW_TIMEOUT_S="0.5", MISTRAL_REVIEW_TIMEOUT_PER_1K_S=per_1k,
               MISTRAL_REVIEW_RETRY_ATTEMPTS="1")
    code, result = _json(["review", "--diff-file", TINY], env)
    (batch,) = result["batches"]
    assert (code, batch["status"]) == ((0, "done") if reviewed else (3, "failed"))
    # the timed-out attempt was sent: its prompt is booked, marked estimated
    assert result["usage"]["calls"] == 1 and result["usage"]["prompt_tokens"] >= batch["input_tokens"]
    assert result["usage"]["estimated"] is not reviewed


@pytest.mark.parametrize(("status", "body", "refused"), [
    (500, LLAMA_CPP_PYTHON_REFUSAL, "response_format"),
    (400, '{"message": "response_format json_schema is not supported"}', "response_format"),
    (400, NO_REASONING_EFFORT, "reasoning_effort"),
    (500, '{"message": "Internal Server Error", "type": "internal_server_error"}', None),  # transient: retried
    (503, '{"message": "response_format queue full"}', None),  # a 5xx must also say the request is invalid
    (429, '{"message": "rate limited; response_format"}', None),
    (401, '{"message": "Unauthorized"}', None),
])
def test_only_a_refusal_naming_an_optional_field_steps_down(status: int, body: str, refused: str | None) -> None:
    assert refused_field(status, body, ServerTerms()) == refused


def test_no_response_format_is_the_floor() -> None:
    assert refused_field(400, '{"message": "response_format"}', ServerTerms("none")) is None


def test_the_result_lists_failed_files_and_drops_by_reason(mistral: MistralDouble, counter: TekkenCounter,
                                                           prompts: Prompts) -> None:
    def respond(body: dict[str, Any], attempt: int) -> Reply:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if "\n### src/flask/app.py\n" in user:
            return Reply(CUT, finish_reason="length")
        return Reply(json.dumps({"comments": [{"path": "elsewhere.py", "line": 1, "side": "RIGHT", "quote": "x",
                                               "severity": "major", "body": "Off the diff."}]}))

    mistral.responder = respond
    settings = Settings.from_env(_env(mistral, MISTRAL_REVIEW_REQUEST_TOKENS="8000", MISTRAL_REVIEW_CONCURRENCY="1"))
    plan = plan_review(parse_diff(diff_bytes("medium-multi-file.diff")), settings, counter=counter, prompts=prompts)
    result = run_review(plan, model_from_settings(settings), settings, counter=counter, prompts=prompts)
    failed = [b for b in plan.batches if "src/flask/app.py" in b.paths]
    assert len(failed) == 1 and "src/flask/app.py" in result.failed_files
    assert set(result.failed_files) <= set(failed[0].paths)
    answered = sum("\n### src/flask/app.py\n" not in u for u in mistral.user_messages())
    assert result.dropped_by_reason == {"path_not_in_batch": answered}
