"""What a model server accepts, learnt from its refusals and remembered for the process.

Self-hosted OpenAI-compatible servers differ: llama-cpp-python answers a `json_schema`
response format with an HTTP 500 ("Input should be 'text' or 'json_object'"), others
refuse `reasoning_effort`. Such a refusal is not a transient error: retrying it burns the
retry budget for nothing. Instead the request steps down once (json_schema, then
json_object, then no response format; reasoning_effort left out) and every later request
to that server starts from there.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from bot.core.settings import RESPONSE_FORMATS

log = logging.getLogger(__name__)

FORMS = RESPONSE_FORMATS  # strongest first
RESPONSE_FORMAT = "response_format"
REASONING_EFFORT = "reasoning_effort"
# Words a 5xx body uses when the server really means "your request is invalid".
_INVALID = ("invalid", "input should be", "validation", "not supported", "unsupported", "extra inputs",
            "extra_forbidden", "literal_error", "unrecognized", "unknown field")


@dataclass
class ServerTerms:
    """The response format and optional fields one server accepts, as far as we know."""

    form: str = FORMS[0]
    dropped: set[str] = field(default_factory=set)


_TERMS: dict[str, ServerTerms] = {}
_LOCK = threading.Lock()


def terms_for(server: str, configured: str) -> ServerTerms:
    """Return a snapshot of what to send this server: the configured form or a lower one it taught us."""
    with _LOCK:
        known = _TERMS.setdefault(server, ServerTerms(configured))
        if FORMS.index(configured) > FORMS.index(known.form):
            known.form = configured
        return ServerTerms(known.form, set(known.dropped))


def refused_field(status: int, body: str, terms: ServerTerms) -> str | None:
    """Return the optional field a refusal names (`response_format` or `reasoning_effort`), else None.

    A 4xx counts when its body names the field; a 5xx only when its body also says the request is invalid.
    """
    text = body.lower()
    if not (400 <= status < 500 and status != 429 or status >= 500 and any(w in text for w in _INVALID)):
        return None
    if terms.form != FORMS[-1] and (RESPONSE_FORMAT in text or "json_schema" in text or terms.form in text):
        return RESPONSE_FORMAT
    if REASONING_EFFORT not in terms.dropped and REASONING_EFFORT in text:
        return REASONING_EFFORT
    return None


def step_down(server: str, refused: str, terms: ServerTerms, reason: str) -> None:
    """Remember that this server refused `refused` as sent with `terms`; log it once."""
    with _LOCK:
        known = _TERMS.setdefault(server, ServerTerms(terms.form))
        if refused == RESPONSE_FORMAT:
            lower = FORMS[min(FORMS.index(terms.form) + 1, len(FORMS) - 1)]
            if FORMS.index(lower) <= FORMS.index(known.form):
                return  # another thread already stepped down
            known.form = lower
            change = f"response_format {terms.form} -> {lower}"
        else:
            if refused in known.dropped:
                return
            known.dropped.add(refused)
            change = f"{refused} left out"
    log.warning("model server %s refused a request (%s); from now on: %s", server, reason, change)
