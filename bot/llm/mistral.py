"""The Mistral adapter: the only module that imports the mistralai SDK.

One chat-completions call per batch, retried with tenacity (the SDK's own retries stay
off, so only one layer retries). Works against api.mistral.ai or any OpenAI-compatible
server (vLLM, Ollama) given as `server_url`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx2
from mistralai.client import Mistral
from mistralai.client.errors import MistralError, ResponseValidationError

from bot.core.errors import ModelError, UsageError
from bot.core.settings import Settings
from bot.retry import RetryPolicy, retrying

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Completion:
    """The text of a reply and the usage the server reported (None when it reported none)."""

    content: str
    prompt_tokens: int | None
    completion_tokens: int | None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, MistralError):
        return exc.status_code in RETRY_STATUSES
    # The SDK raises its transport's timeout and connection errors unwrapped.
    return isinstance(exc, (httpx2.TimeoutException, httpx2.TransportError))


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """Return the server's Retry-After in seconds, when it sent one as a number."""
    if not isinstance(exc, MistralError):
        return None
    value = exc.headers.get("retry-after") if exc.headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


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
    return Completion(text, usage.get("prompt_tokens"), usage.get("completion_tokens"))


def _text(content: Any) -> str:
    """Return the text of a message's content (a list of chunks when the model reasons)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(getattr(chunk, "text", "") or "" for chunk in content if getattr(chunk, "type", "") == "text")
    return ""


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
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # The key is passed explicitly: the SDK would otherwise read MISTRAL_API_KEY by itself.
        self._client = Mistral(api_key=api_key, server_url=server_url, timeout_ms=int(timeout_s * 1000))
        self.model = model
        self._temperature = temperature
        self._reasoning_effort = reasoning_effort
        self._policy = policy
        self._sleep = sleep

    def complete(self, system: str, user: str, *, max_tokens: int, schema: dict[str, Any]) -> Completion:
        """Ask for one reply in JSON that follows `schema`; raise ModelError when retries run out."""
        retrier = retrying(self._policy, retryable=_retryable, hint=retry_after_seconds, sleep=self._sleep)
        try:
            return retrier(self._call, system, user, max_tokens, schema)
        except (MistralError, httpx2.HTTPError) as exc:
            attempts = retrier.statistics.get("attempt_number", 1)
            status = exc.status_code if isinstance(exc, MistralError) else None
            raise ModelError(f"model call failed after {attempts} attempt(s): {_describe(exc)}",
                             status=status, attempts=attempts) from None

    def _call(self, system: str, user: str, max_tokens: int, schema: dict[str, Any]) -> Completion:
        try:
            response = self._request(system, user, max_tokens, schema)
        except ResponseValidationError as exc:
            # Self-hosted servers (vLLM, Ollama) may leave out fields the SDK requires, usage first of all.
            return _lenient(exc)
        usage = response.usage
        choice = response.choices[0] if response.choices else None
        return Completion(
            _text(choice.message.content) if choice and choice.message else "",
            getattr(usage, "prompt_tokens", None) if usage else None,
            getattr(usage, "completion_tokens", None) if usage else None,
        )

    def _request(self, system: str, user: str, max_tokens: int, schema: dict[str, Any]) -> Any:
        return self._client.chat.complete(
            model=self.model,
            messages=cast(Any, [{"role": "system", "content": system}, {"role": "user", "content": user}]),
            temperature=self._temperature,
            max_tokens=max_tokens,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "review", "schema_definition": schema, "strict": True}},
            reasoning_effort=self._reasoning_effort,  # type: ignore[arg-type]
        )


def model_from_settings(settings: Settings) -> MistralModel:
    """Build the model client for these settings; a missing key is a usage error, not the SDK's."""
    if not settings.api_key:
        raise UsageError("MISTRAL_API_KEY is not set")
    return MistralModel(
        api_key=settings.api_key, model=settings.model, server_url=settings.server_url,
        timeout_s=settings.timeout_s, temperature=settings.temperature,
        reasoning_effort=settings.reasoning_effort,
        policy=RetryPolicy(settings.retry_attempts, settings.retry_max_wait_s, settings.retry_total_s),
    )
