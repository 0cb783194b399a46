"""The Mistral adapter: the only module that imports the mistralai SDK.

One chat-completions call per batch, retried by bot/retry.py (the SDK's own retries stay
off, so only one layer retries; Retry-After in seconds or as an HTTP date). Works against
api.mistral.ai or any OpenAI-compatible server (vLLM, Ollama, llama.cpp) given as
`server_url`; what such a server refuses is learnt once (bot.llm.negotiation) rather than retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import httpx2
from mistralai.client import Mistral
from mistralai.client.errors import MistralError, ResponseValidationError

from bot.core.errors import ModelError, UsageError
from bot.core.settings import Settings
from bot.core.wait_hints import wait_hint
from bot.llm.negotiation import FORMS, REASONING_EFFORT, RESPONSE_FORMAT, ServerTerms, refused_field, step_down, terms_for
from bot.retry import RetryPolicy, retrying

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MISTRAL_API = "https://api.mistral.ai"


@dataclass(frozen=True)
class Completion:
    """The text of a reply, the usage the server reported (None when it reported none) and how the reply ended.

    `lost_attempts` counts earlier attempts that timed out after the request was sent: the
    server may have processed (and billed) them.
    """

    content: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None = None
    model: str | None = None
    lost_attempts: int = 0


_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()


def warn_model_mismatch(requested: str, served: str | None) -> None:
    """Warn once per process when a server answers with another model than the one asked for."""
    if not served or served == requested:
        return
    with _WARNED_LOCK:
        if (requested, served) in _WARNED:
            return
        _WARNED.add((requested, served))
    log.warning("asked for model %s, the server answered with %s (it may ignore the model name)", requested, served)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, MistralError):
        return exc.status_code in RETRY_STATUSES
    # The SDK raises its transport's timeout and connection errors unwrapped.
    return isinstance(exc, (httpx2.TimeoutException, httpx2.TransportError))


def retry_after_seconds(exc: BaseException | None, now: float) -> float | None:
    """Return the wait the server's Retry-After asks for at `now` (epoch seconds): seconds or an HTTP date."""
    if not isinstance(exc, MistralError) or exc.headers is None:
        return None
    return wait_hint(exc.headers, now=now)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MistralError):
        return f"HTTP {exc.status_code}: {exc.body[:200].strip()}"
    return f"{type(exc).__name__}: {exc}"


def _lenient(exc: ResponseValidationError) -> Completion:
    """Read a 200 answer the SDK's model rejected; raise the SDK's error when it has no reply text."""
    try:
        data = exc.raw_response.json()
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise exc from None
    usage = data.get("usage") or {}
    content = message.get("content")
    text = content if isinstance(content, str) else "".join(
        c.get("text", "") for c in content or [] if isinstance(c, dict) and c.get("type") == "text")
    return Completion(text, usage.get("prompt_tokens"), usage.get("completion_tokens"),
                      data["choices"][0].get("finish_reason"), data.get("model"))


def _text(content: Any) -> str:
    """Return the text of a message's content (a list of chunks when the model reasons)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(getattr(chunk, "text", "") or "" for chunk in content if getattr(chunk, "type", "") == "text")
    return ""


class _Lost:
    """Counts a call's attempts that timed out after they were sent."""

    def __init__(self) -> None:
        self.count = 0


def _format(form: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "review", "schema_definition": schema, "strict": True}}
    return {"type": "json_object"} if form == "json_object" else None


class MistralModel:
    """Chat completions with structured output, retried within a policy."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        server_url: str | None = None,
        timeout_s: float = 120.0,
        temperature: float = 0.1,
        reasoning_effort: str = "none",
        response_format: str = FORMS[0],
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        # The key is passed explicitly: the SDK would otherwise read MISTRAL_API_KEY by itself.
        self._client = Mistral(api_key=api_key, server_url=server_url, timeout_ms=int(timeout_s * 1000))
        self.model = model
        self._server = server_url or MISTRAL_API
        self._timeout_s = timeout_s
        self._temperature = temperature
        self._reasoning_effort = reasoning_effort
        self._response_format = response_format
        self._policy = policy
        self._sleep = sleep
        self._wall_clock = wall_clock  # for a Retry-After given as a date

    def complete(self, system: str, user: str, *, max_tokens: int, schema: dict[str, Any],
                 timeout_s: float | None = None) -> Completion:
        """Ask for one reply in JSON that follows `schema`; raise ModelError when retries run out.

        A refused optional field (response format, reasoning effort) costs one extra call, not a retry.
        """
        lost = _Lost()
        for _ in range(len(FORMS) + 1):  # each refusal lowers what is sent, so this ends
            terms = terms_for(self._server, self._response_format)

            def transient(exc: BaseException, terms: ServerTerms = terms) -> bool:
                return _retryable(exc) and self._refusal(exc, terms) is None

            retrier = retrying(self._policy, retryable=transient, sleep=self._sleep,
                               hint=lambda exc: retry_after_seconds(exc, self._wall_clock()))
            try:
                completion = retrier(self._call, system, user, max_tokens, schema, terms,
                                     timeout_s or self._timeout_s, lost)
            except (MistralError, httpx2.HTTPError) as exc:
                refused = self._refusal(exc, terms)
                if refused is not None:
                    step_down(self._server, refused, terms, _describe(exc))
                    continue
                attempts = retrier.statistics.get("attempt_number", 1)
                status = exc.status_code if isinstance(exc, MistralError) else None
                raise ModelError(f"model call failed after {attempts} attempt(s): {_describe(exc)}",
                                 status=status, attempts=attempts, lost_attempts=lost.count) from None
            warn_model_mismatch(self.model, completion.model)
            return replace(completion, lost_attempts=lost.count)
        raise ModelError("the model server refused every request form", attempts=len(FORMS) + 1)

    @staticmethod
    def _refusal(exc: BaseException, terms: ServerTerms) -> str | None:
        if not isinstance(exc, MistralError):
            return None
        return refused_field(exc.status_code, exc.body or "", terms)

    def _call(self, system: str, user: str, max_tokens: int, schema: dict[str, Any], terms: ServerTerms,
              timeout_s: float, lost: _Lost) -> Completion:
        try:
            response = self._request(system, user, max_tokens, schema, terms, timeout_s)
        except ResponseValidationError as exc:
            # Self-hosted servers (vLLM, Ollama) may leave out fields the SDK requires, usage first of all.
            return _lenient(exc)
        except httpx2.ReadTimeout:
            lost.count += 1  # sent and maybe processed: the server may bill it
            raise
        usage = response.usage
        choice = response.choices[0] if response.choices else None
        return Completion(
            _text(choice.message.content) if choice and choice.message else "",
            getattr(usage, "prompt_tokens", None) if usage else None,
            getattr(usage, "completion_tokens", None) if usage else None,
            str(choice.finish_reason) if choice and choice.finish_reason else None,
            getattr(response, "model", None),
        )

    def _request(self, system: str, user: str, max_tokens: int, schema: dict[str, Any], terms: ServerTerms,
                 timeout_s: float) -> Any:
        optional: dict[str, Any] = {}
        if (form := _format(terms.form, schema)) is not None:
            optional[RESPONSE_FORMAT] = form
        if REASONING_EFFORT not in terms.dropped:
            optional[REASONING_EFFORT] = self._reasoning_effort
        return self._client.chat.complete(
            model=self.model,
            messages=cast(Any, [{"role": "system", "content": system}, {"role": "user", "content": user}]),
            temperature=self._temperature,
            max_tokens=max_tokens,
            timeout_ms=int(timeout_s * 1000),
            **optional,
        )


def model_from_settings(settings: Settings) -> MistralModel:
    """Build the model client for these settings; a missing key is a usage error, not the SDK's."""
    if not settings.api_key:
        raise UsageError("MISTRAL_API_KEY is not set")
    return MistralModel(
        api_key=settings.api_key, model=settings.model, server_url=settings.server_url,
        timeout_s=settings.timeout_s, temperature=settings.temperature,
        reasoning_effort=settings.reasoning_effort, response_format=settings.response_format,
        policy=RetryPolicy(settings.retry_attempts, settings.retry_max_wait_s, settings.retry_total_s),
    )
