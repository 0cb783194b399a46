"""A real-HTTP test double of Mistral's chat-completions API, validated against the published OpenAPI schema."""

from __future__ import annotations

import copy
import functools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "mistral-openapi-subset.json"
DEFAULT_CONTENT = '{"comments": []}'


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the double to a chat-completions request."""

    content: str | None = DEFAULT_CONTENT
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_body: str | None = None
    delay: float = 0.0
    usage: dict[str, Any] | None = None
    omit_usage: bool = False
    finish_reason: str = "stop"
    model: str | None = None  # the model the reply claims; None echoes the requested one


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the double received it (header names lower-cased)."""

    body: dict[str, Any]
    headers: dict[str, str]
    path: str


Responder = Callable[[dict[str, Any], int], Reply]


def _default_responder(body: dict[str, Any], attempt: int) -> Reply:
    """Answer every request with an empty review."""
    return Reply()


def _relax(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the OpenAPI document, relaxed for known quirks of Mistral's published response schema."""
    doc = copy.deepcopy(doc)
    schemas = doc["components"]["schemas"]
    for part in schemas["ChatCompletionResponse"]["allOf"]:  # the real API never sends the required "data"
        part["required"] = [k for k in part.get("required", []) if k != "data"]
    # UsageInfo forbids extra keys, real responses add prompt_tokens_details (this fixture already declares it)
    schemas["UsageInfo"]["properties"].setdefault("prompt_tokens_details", {"type": ["object", "null"]})
    if "max" not in schemas.get("ReasoningEffort", {}).get("enum", ["max"]):  # no such component in this fixture
        schemas["ReasoningEffort"]["enum"].append("max")
    return doc


@functools.cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    """The strict request validator and the relaxed response validator, built once."""
    doc = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resources(
        [("urn:strict", DRAFT202012.create_resource(doc)), ("urn:relaxed", DRAFT202012.create_resource(_relax(doc)))]
    )
    ref = "#/components/schemas/ChatCompletion"
    return (
        Draft202012Validator({"$ref": f"urn:strict{ref}Request"}, registry=registry),
        Draft202012Validator({"$ref": f"urn:relaxed{ref}Response"}, registry=registry),
    )


def _schema_problems(validator: Draft202012Validator, instance: Any) -> list[dict[str, Any]]:
    """Validation errors as Mistral-style ValidationError entries (loc, msg, type)."""
    kinds = {"required": "missing", "additionalProperties": "extra_forbidden"}
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [
        {"loc": ["body", *e.absolute_path], "msg": e.message, "type": kinds.get(str(e.validator), str(e.validator))}
        for e in errors
    ]


def _error_body(status: int) -> str:
    """A Mistral-shaped JSON error body for a non-200 status."""
    kind = "rate_limited" if status == 429 else "invalid_request_error" if status < 500 else "internal_server_error"
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return json.dumps({"object": "error", "message": phrase, "type": kind, "param": None, "code": str(status)})


# What llama-cpp-python's server answers to `response_format: {"type": "json_schema"}`: its pydantic
# validation error, wrapped as an HTTP 500 by its route error handler.
LLAMA_CPP_PYTHON_REFUSAL = json.dumps({"error": {
    "message": "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
               "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
               "'ctx': {'expected': \"'text' or 'json_object'\"}}]",
    "type": "internal_server_error", "param": None, "code": None}})
# What an OpenAI-compatible server that knows no `reasoning_effort` answers (vLLM-style 400).
NO_REASONING_EFFORT = json.dumps({"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                                  "message": "1 validation error: reasoning_effort: Extra inputs are not permitted"})


def like_llama_cpp_python(then: Responder) -> Responder:
    """Behave as llama-cpp-python's server: a 500 for a json_schema response format, else `then`."""
    def respond(body: dict[str, Any], attempt: int) -> Reply:
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return Reply(status=500, error_body=LLAMA_CPP_PYTHON_REFUSAL)
        return then(body, attempt)

    return respond


def without_reasoning_effort(then: Responder) -> Responder:
    """Behave as a server that refuses the `reasoning_effort` field with a 400, else `then`."""
    def respond(body: dict[str, Any], attempt: int) -> Reply:
        return Reply(status=400, error_body=NO_REASONING_EFFORT) if "reasoning_effort" in body else then(body, attempt)

    return respond


class MistralDouble:
    """A Mistral chat-completions server on 127.0.0.1 in a background thread, scripted by `responder` and `queue`."""

    def __init__(self) -> None:
        """Create a stopped double with the default responder."""
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.responder: Responder = _default_responder
        self.requests: list[RecordedRequest] = []
        self.schema_errors: list[str] = []
        self._queue: deque[Reply] = deque()
        self._seen: dict[str, int] = {}

    def __enter__(self) -> MistralDouble:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()

    def start(self) -> MistralDouble:
        """Bind a free port and serve in a daemon thread."""
        self._closing.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.double = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake delayed handlers, shut the server down and join its thread."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        """Base URL for `Mistral(server_url=...)`, without /v1."""
        assert self._server is not None, "MistralDouble is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queue(self, *replies: Reply) -> None:
        """Append replies to a FIFO used one per request before the responder."""
        with self._lock:
            self._queue.extend(replies)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of all recorded requests."""
        with self._lock:
            return [r.body for r in self.requests]

    def user_messages(self) -> list[Any]:
        """The content of every user message of every recorded request, in order."""
        messages = [m for b in self.bodies() for m in b.get("messages") or [] if isinstance(m, dict)]
        return [m.get("content") for m in messages if m.get("role") == "user"]

    def reset(self) -> None:
        """Forget requests, errors, queued replies and attempt counts; restore the default responder."""
        with self._lock:
            self.requests.clear()
            self.schema_errors.clear()
            self._queue.clear()
            self._seen.clear()
            self.responder = _default_responder

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes, float]:
        """Decide status, extra headers, body and delay for one request."""
        try:
            body = json.loads(raw)
        except ValueError as exc:
            body = exc
        with self._lock:
            self.requests.append(RecordedRequest(body if isinstance(body, dict) else {}, headers, path))
        if path.split("?")[0] != "/v1/chat/completions":
            self._error(f"unexpected request path {path}")
            return 404, {}, b'{"detail":"Not Found"}', 0.0
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return 401, {}, b'{"message":"Unauthorized"}', 0.0
        bad_json: list[dict[str, Any]] = [{"loc": ["body"], "msg": f"Invalid JSON: {body}", "type": "json_invalid"}]
        problems = bad_json if isinstance(body, ValueError) else _schema_problems(_validators()[0], body)
        if problems:
            self._error(*(f"request {'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems))
            return 422, {}, json.dumps({"detail": problems}).encode(), 0.0
        key = json.dumps(body, sort_keys=True)
        with self._lock:
            self._seen[key] = attempt = self._seen.get(key, 0) + 1
            queued = self._queue.popleft() if self._queue else None
            responder = self.responder
        try:
            reply = queued if queued is not None else responder(body, attempt)
        except Exception as exc:  # a broken responder must be visible to the test
            self._error(f"responder raised {exc!r}")
            return 500, {}, _error_body(500).encode(), 0.0
        if reply.status != 200:
            return reply.status, reply.headers, (reply.error_body or _error_body(reply.status)).encode(), reply.delay
        out = self._completion(body, reply)
        problems = _schema_problems(_validators()[1], out)
        if reply.omit_usage:  # deliberately off-spec: emulates servers (self-hosted) that report no usage
            problems = [p for p in problems if not (p["type"] == "missing" and p["msg"].startswith("'usage'"))]
        if problems:
            self._error(*(f"response {'.'.join(map(str, p['loc'][1:]))}: {p['msg']}" for p in problems))
            return 500, {}, _error_body(500).encode(), 0.0
        return 200, reply.headers, json.dumps(out).encode(), reply.delay

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Build a chat.completion object shaped like Mistral's."""
        message = {"role": "assistant", "content": reply.content, "tool_calls": None, "prefix": False}
        choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason}
        out: dict[str, Any] = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "chat.completion"}
        out |= {"created": int(time.time()), "model": reply.model or body["model"], "choices": [choice]}
        if not reply.omit_usage:
            prompt, completion = len(json.dumps(body["messages"])) // 4, len(reply.content or "") // 4 + 1
            auto = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            out["usage"] = auto if reply.usage is None else reply.usage
        return out

    def _error(self, *messages: str) -> None:
        """Record schema or protocol problems for the test to assert on."""
        with self._lock:
            self.schema_errors.extend(messages)


class _Handler(BaseHTTPRequestHandler):
    """Routes every request to the MistralDouble attached to its server."""

    def _serve(self) -> None:
        """Read the request, ask the double, write the answer."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        double: MistralDouble = self.server.double  # type: ignore[attr-defined]
        status, extra, payload, delay = double._handle(self.path, headers, raw)
        if delay > 0 and double._closing.wait(delay):
            return  # the double is stopping: drop the connection
        try:
            self.send_response(status)
            fixed = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
            for name, value in {**fixed, **extra}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired)

    do_POST = do_GET = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
