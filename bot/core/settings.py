"""Review settings: defaults, the environment, the repo's TOML file and flags, in that order of weight.

Pure: the environment and the file's text are arguments, never read here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.batching import Limits
from bot.core.classify import DEFAULT_IGNORE, GlobError, check_globs
from bot.core.guidance import GuidanceError, PathRule, check_language, parse_path_rules
from bot.core.severity import Severity
from bot.core.spend import Price, price_for, unknown_model_message
from bot.core.tomlfile import TomlError, load_toml

MODEL_CONTEXT = 256_000
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
# Where a repo keeps its settings, in the order they are looked for: the first one found is used.
REPO_CONFIG_PATHS = (".mistral-review.toml", ".github/mistral-review.toml", ".gitlab/mistral-review.toml")


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Everything that shapes one review."""

    model: str = "mistral-small-2603"
    api_key: str | None = field(default=None, repr=False)
    server_url: str | None = None
    price_input: float | None = None
    price_output: float | None = None
    budget_usd: float = 0.50
    max_comments: int = 15
    min_severity: Severity = Severity.MINOR  # nits are noise on the eval; see the README
    concurrency: int = 4
    request_tokens: int = 24_000
    output_tokens: int = 4_000
    temperature: float = 0.1
    reasoning_effort: str = "none"
    response_format: str = "json_schema"  # or json_object, or none (the prompt describes the JSON)
    timeout_s: float = 60.0  # read timeout of a model call: this base...
    timeout_per_1k_s: float = 4.0  # ...plus this per 1,000 input tokens of the batch
    retry_attempts: int = 5
    retry_max_wait_s: float = 30.0
    retry_total_s: float = 180.0
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    instructions: str = ""
    paths: tuple[PathRule, ...] = ()  # per-path instructions, sent only with batches holding a matching file
    language: str = ""  # the comments' natural language; empty: the model's choice (English, in practice)
    review_bots: bool = False
    skip_labels: tuple[str, ...] = ("no-ai-review",)
    allowed_models: tuple[str, ...] = ()  # models a repo file may pick; empty: only the configured one
    price_models: tuple[str, ...] = ()  # models the operator's price applies to; empty: the configured model
    priced_model: str | None = None  # the configured model, pinned once a repo file picks another

    @property
    def _price_override(self) -> dict[str, float | None]:
        """Return the operator's price where it applies to this model: a repo file's pick gets the list price."""
        if self.price_models:
            applies = self.model in self.price_models
        else:
            applies = self.priced_model is None or self.model == self.priced_model
        return {"input_per_m": self.price_input, "output_per_m": self.price_output} if applies else {}

    @property
    def priced(self) -> bool:
        """Return whether the model has a price: listed, or set by the operator for it."""
        return price_for(self.model, **self._price_override) is not None

    @property
    def price(self) -> Price:
        """Return the price per million tokens in force; a model with none is a ConfigError, never a guess."""
        price = price_for(self.model, **self._price_override)
        if price is None:
            if self.price_models:
                listed = f" and is not in MISTRAL_REVIEW_PRICE_MODELS ({', '.join(self.price_models)})"
                raise ConfigError(f"model {self.model!r} has no built-in price{listed}: set MISTRAL_REVIEW_PRICE_INPUT "
                                  "and MISTRAL_REVIEW_PRICE_OUTPUT (dollars per 1M tokens, 0 allowed)")
            raise ConfigError(unknown_model_message(self.model))
        return price

    def read_timeout_s(self, input_tokens: int) -> float:
        """Return the read timeout of a call carrying this many input tokens (a CPU server reads ~250/s)."""
        return self.timeout_s + self.timeout_per_1k_s * input_tokens / 1000

    @property
    def limits(self) -> Limits:
        """Return the per-request token limits."""
        return Limits(self.request_tokens, self.output_tokens)

    def with_values(self, values: Mapping[str, Any]) -> Settings:
        """Return a copy with the given settings applied, each checked and converted."""
        return dataclasses.replace(self, **{k: _convert(k, v) for k, v in values.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `MISTRAL_*` variables over the defaults."""
        values: dict[str, Any] = {
            "api_key": env.get("MISTRAL_API_KEY") or None,
            "server_url": (env.get("MISTRAL_SERVER_URL") or "").rstrip("/") or None,
            "model": env.get("MISTRAL_MODEL") or None,
        }
        for name, key in ENV_NAMES.items():
            if env.get(name, "") != "":
                values[key] = env[name]
        settings = cls().with_values(values)
        _ = settings.price  # an unpriced model fails at start, not mid-review
        return settings


ENV_NAMES = {
    "MISTRAL_REVIEW_PRICE_INPUT": "price_input",
    "MISTRAL_REVIEW_PRICE_OUTPUT": "price_output",
    "MISTRAL_REVIEW_BUDGET_USD": "budget_usd",
    "MISTRAL_REVIEW_MAX_COMMENTS": "max_comments",
    "MISTRAL_REVIEW_MIN_SEVERITY": "min_severity",
    "MISTRAL_REVIEW_CONCURRENCY": "concurrency",
    "MISTRAL_REVIEW_REQUEST_TOKENS": "request_tokens",
    "MISTRAL_REVIEW_REASONING_EFFORT": "reasoning_effort",
    "MISTRAL_REVIEW_OUTPUT_TOKENS": "output_tokens",
    "MISTRAL_REVIEW_TIMEOUT_S": "timeout_s",
    "MISTRAL_REVIEW_TIMEOUT_PER_1K_S": "timeout_per_1k_s",
    "MISTRAL_REVIEW_RESPONSE_FORMAT": "response_format",
    "MISTRAL_REVIEW_RETRY_ATTEMPTS": "retry_attempts",
    "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "retry_max_wait_s",
    "MISTRAL_REVIEW_RETRY_TOTAL_S": "retry_total_s",
    "MISTRAL_REVIEW_ALLOWED_MODELS": "allowed_models",
    "MISTRAL_REVIEW_PRICE_MODELS": "price_models",
}

# Keys a repo's `.mistral-review.toml` may set. Endpoint and key are the operator's, not the repo's.
REPO_KEYS = frozenset({
    "model", "budget_usd", "max_comments", "min_severity", "ignore", "instructions",
    "review_bots", "skip_labels", "reasoning_effort",
    "paths", "language",
})


def _shown(value: Any) -> str:
    """Return a bad value as a warning quotes it: its repr, cut at 60 characters (a repo file may hold anything)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(key: str, value: Any, kind: type, low: float, high: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, not {_shown(value)}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ConfigError(f"{key} must be between {low:g} and {high:g}, not {_shown(value)}")
    return number


def _globs(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for line in value.splitlines() for part in line.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("true", "1", "yes", "on"):
        return True
    if str(value).strip().lower() in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(f"{key} must be true or false, not {_shown(value)}")


def _convert(key: str, value: Any) -> Any:
    """Check one setting and convert it to its type."""
    if key in ("price_input", "price_output"):
        return _number(key, value, float, 0, 1000)
    if key == "budget_usd":
        return _number(key, value, float, 0, 10_000)
    if key == "max_comments":
        return _number(key, value, int, 0, 30)  # GitHub handles ~30 comments a review well
    if key == "concurrency":
        return _number(key, value, int, 1, 32)
    if key == "request_tokens":
        return _number(key, value, int, 6_000, MODEL_CONTEXT)
    if key == "output_tokens":
        return _number(key, value, int, 256, 64_000)
    if key == "temperature":
        return _number(key, value, float, 0, 1.5)
    if key in ("timeout_s", "timeout_per_1k_s", "retry_max_wait_s", "retry_total_s"):
        return _number(key, value, float, 0, 3600)
    if key == "retry_attempts":
        return _number(key, value, int, 1, 20)
    if key == "min_severity":
        try:
            return Severity(str(value).strip().lower())
        except ValueError:
            raise ConfigError(f"min_severity must be one of {', '.join(s.value for s in Severity)}") from None
    if key == "reasoning_effort":
        if str(value) not in ("none", "low", "medium", "high"):
            raise ConfigError(f"reasoning_effort must be none, low, medium or high, not {_shown(value)}")
        return str(value)
    if key == "response_format":
        if str(value) not in RESPONSE_FORMATS:
            raise ConfigError(f"response_format must be {', '.join(RESPONSE_FORMATS)}, not {_shown(value)}")
        return str(value)
    if key == "ignore":
        globs = _globs(key, value)
        try:
            check_globs(globs)
        except GlobError as exc:
            raise ConfigError(f"ignore: {exc}") from None
        return globs
    if key in ("skip_labels", "allowed_models", "price_models"):
        return _globs(key, value)
    if key == "review_bots":
        return _flag(key, value)
    if key in ("paths", "language"):
        try:
            return parse_path_rules(value) if key == "paths" else check_language(value)
        except GuidanceError as exc:
            raise ConfigError(str(exc)) from None
    if key in ("model", "api_key", "server_url", "instructions"):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string")
        return value
    raise ConfigError(f"unknown setting {key!r}")


def parse_repo_config(text: str, base: Settings, *, path: str = REPO_CONFIG_PATHS[0]) -> tuple[Settings, list[str]]:
    """Apply a repo's TOML file (read from `path`) to settings; every problem is reported and that key keeps its value."""
    try:
        data = load_toml(text)
    except TomlError as exc:
        return base, [f"{path} is {exc}; using the defaults"]
    problems: list[str] = []
    settings = base
    for key, value in data.items():
        if key not in REPO_KEYS:
            problems.append(f"{path}: unknown key {key!r} ignored")
            continue
        try:
            settings = settings.with_values({key: value})
        except ConfigError as exc:
            problems.append(f"{path}: {exc}; default kept")
    if settings.model != base.model and base.priced_model is None:  # the operator's price stays with their model
        settings = dataclasses.replace(settings, priced_model=base.model)
    return settings, problems


def check_model(settings: Settings, *, configured: str, source: str = REPO_CONFIG_PATHS[0]) -> tuple[Settings, str | None]:
    """Keep a repo file's model only when the operator allows it and it has a price; else the configured one, and why.

    The operator's price (MISTRAL_REVIEW_PRICE_*) is for `configured` (or MISTRAL_REVIEW_PRICE_MODELS): a repo
    file's pick of another model is priced from the built-in table.
    """
    settings = dataclasses.replace(settings, priced_model=configured)
    if settings.model == configured:
        return settings, None
    allowed = settings.allowed_models or (configured,)
    if settings.model not in allowed:
        why = f"is not one the operator allows ({', '.join(allowed)})"
    elif not settings.priced:
        why = "has no known price (the operator can list it in MISTRAL_REVIEW_PRICE_MODELS)"
    else:
        return settings, None
    note = f"{source}: model {settings.model!r} {why}; {configured} was used instead."
    return dataclasses.replace(settings, model=configured), note
