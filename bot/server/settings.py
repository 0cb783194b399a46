"""The self-hosted server's settings, read from an environment mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_data_path

from bot.core.errors import UsageError
from bot.core.tomlfile import MAX_TOML_BYTES, TomlError, load_toml


def default_data_dir() -> Path:
    """The per-user data dir (`~/.local/share/mistral-review` on Linux), the same wherever a command starts."""
    return user_data_path("mistral-review", appauthor=False)


@dataclass(frozen=True)
class GitLabHookSettings:
    """How the server checks GitLab's webhooks and acts on GitLab (GitLab.com or self-managed)."""

    secret: str = field(default="", repr=False)
    signing_token: str = field(default="", repr=False)
    bot_username: str = ""
    token: str = field(default="", repr=False)
    url: str = "https://gitlab.com"
    write_interval_s: float = 0.25
    max_wait_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitLabHookSettings | None:
        """Read GITLAB_WEBHOOK_SECRET or GITLAB_WEBHOOK_SIGNING_TOKEN, GITLAB_TOKEN and GITLAB_URL; None when unset."""
        secret, signing = env.get("GITLAB_WEBHOOK_SECRET", ""), env.get("GITLAB_WEBHOOK_SIGNING_TOKEN", "")
        token = env.get("GITLAB_TOKEN", "")
        if not (secret or signing or token):
            return None
        if not (secret or signing):
            raise UsageError("GITLAB_TOKEN is set but GITLAB_WEBHOOK_SECRET (or GITLAB_WEBHOOK_SIGNING_TOKEN) is not: "
                             "set the secret token you gave GitLab's webhook")
        if not token:
            raise UsageError("GITLAB_WEBHOOK_SECRET is set but GITLAB_TOKEN is not: the bot needs a project, group or "
                             "personal access token with the api scope to read merge requests and post notes")
        pacing = _float(env, "MISTRAL_REVIEW_GITLAB_WRITE_INTERVAL_S")
        return cls(secret, signing, env.get("MISTRAL_REVIEW_GITLAB_BOT_USERNAME", ""), token,
                   env.get("GITLAB_URL") or "https://gitlab.com", 0.25 if pacing is None else pacing,
                   _float(env, "MISTRAL_REVIEW_GITLAB_MAX_WAIT_S") or 60.0)


@dataclass(frozen=True)
class ServerSettings:
    """How the webhook server and its workers run."""

    webhook_secret: str | None = field(default=None, repr=False)
    insecure_no_signature: bool = False
    dev: bool = False
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    dashboard_token: str | None = field(default=None, repr=False)
    github_token: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    app_id: int | None = None
    app_private_key: str | None = field(default=None, repr=False)
    pr_budget_cap_usd: float | None = None
    monthly_budgets: tuple[tuple[str, str, float], ...] = ()
    review_drafts: bool = False
    metrics_per_repo: bool = False
    lease_s: float = 120.0
    queued_grace_s: float = 60.0
    reap_every_s: float = 10.0
    max_body_bytes: int = 25 * 1024 * 1024
    github_write_interval_s: float = 1.0
    gitlab: GitLabHookSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, insecure_no_signature: bool = False,
                 dev: bool = False) -> ServerSettings:
        """Build server settings from the environment; bad values are a UsageError."""
        key = env.get("GITHUB_APP_PRIVATE_KEY") or None
        key_file = env.get("GITHUB_APP_PRIVATE_KEY_FILE")
        if key is None and key_file:
            try:
                key = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read GITHUB_APP_PRIVATE_KEY_FILE: {exc.strerror}") from None
        app_id = env.get("GITHUB_APP_ID")
        if app_id and not app_id.isdigit():
            raise UsageError("GITHUB_APP_ID must be a number")
        if bool(app_id) != bool(key):
            raise UsageError("a GitHub App needs both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (or _FILE)")
        return cls(
            webhook_secret=env.get("GITHUB_WEBHOOK_SECRET") or None,
            insecure_no_signature=insecure_no_signature,
            dev=dev,
            data_dir=Path(env.get("MISTRAL_REVIEW_DATA_DIR") or default_data_dir()),
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            dashboard_token=env.get("MISTRAL_REVIEW_DASHBOARD_TOKEN") or None,
            github_token=env.get("GITHUB_TOKEN") or None,
            github_api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
            app_id=int(app_id) if app_id else None,
            app_private_key=key,
            **operator_budgets(env),
            review_drafts=_flag(env, "MISTRAL_REVIEW_REVIEW_DRAFTS"),
            metrics_per_repo=_flag(env, "MISTRAL_REVIEW_METRICS_PER_REPO"),
            lease_s=_float(env, "MISTRAL_REVIEW_LEASE_S") or 120.0,
            queued_grace_s=_float(env, "MISTRAL_REVIEW_QUEUED_GRACE_S") or 60.0,
            reap_every_s=_float(env, "MISTRAL_REVIEW_REAP_EVERY_S") or 10.0,
            github_write_interval_s=_float(env, "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S") or 0.0
            if "MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S" in env else 1.0,
            gitlab=GitLabHookSettings.from_env(env),
        )

    @property
    def github(self) -> bool:
        """Tell whether GitHub is configured (an App or a token): only then is POST /webhook served."""
        return bool(self.github_token or self.app_id)

    def check_can_serve(self) -> None:
        """Refuse to serve GitHub without a webhook secret (unless explicitly insecure), or with no host at all."""
        self.check_hosts()
        if self.github and not self.webhook_secret and not self.insecure_no_signature:
            raise UsageError("GITHUB_WEBHOOK_SECRET is not set (use --insecure-no-signature only for development)")

    def check_hosts(self) -> None:
        """Refuse to run without a way to act on GitHub or GitLab."""
        if not self.github and self.gitlab is None:
            raise UsageError("set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (a GitHub App) or GITHUB_TOKEN for GitHub, "
                             "or GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET for GitLab")
        if self.gitlab is not None:
            from bot.hosts.gitlab.client import check_token

            check_token(self.gitlab.token)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").lower() in ("1", "true", "yes")


def _float(env: Mapping[str, str], name: str) -> float | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{name} must be a number, not {value!r}") from None


BUDGET_VARIABLES = ("MISTRAL_REVIEW_PR_BUDGET_CAP_USD", "MISTRAL_REVIEW_MONTHLY_BUDGETS")


def operator_budgets(env: Mapping[str, str]) -> dict[str, Any]:
    """Read the operator's budgets: from the TOML file MISTRAL_REVIEW_CONFIG names, or from the environment.

    Read once at start and never stored: what is read is the whole truth, so a removed cap is gone.
    The file looks like: `[budgets]` with `pr_cap_usd = 0.5` and `monthly = { "repo:o/r" = 10 }`.
    """
    path = env.get("MISTRAL_REVIEW_CONFIG")
    if not path:
        return {"pr_budget_cap_usd": _float(env, "MISTRAL_REVIEW_PR_BUDGET_CAP_USD"),
                "monthly_budgets": parse_budgets(env.get("MISTRAL_REVIEW_MONTHLY_BUDGETS", ""))}
    both = [name for name in BUDGET_VARIABLES if env.get(name)]
    if both:
        raise UsageError(f"budgets are set both in MISTRAL_REVIEW_CONFIG and in {', '.join(both)}: keep one")
    try:
        with Path(path).open("rb") as handle:
            data = load_toml(handle.read(MAX_TOML_BYTES + 1))
    except OSError as exc:
        raise UsageError(f"cannot read MISTRAL_REVIEW_CONFIG {path}: {exc.strerror}") from None
    except TomlError as exc:
        raise UsageError(f"MISTRAL_REVIEW_CONFIG {path} is {exc}") from None
    budgets = data.get("budgets", {})
    monthly = budgets.get("monthly", {}) if isinstance(budgets, dict) else None
    cap = budgets.get("pr_cap_usd") if isinstance(budgets, dict) else None
    if not isinstance(monthly, dict) or not (cap is None or isinstance(cap, (int, float)) and not isinstance(cap, bool)):
        raise UsageError(f"MISTRAL_REVIEW_CONFIG {path}: [budgets] wants pr_cap_usd = USD and monthly = {{ \"repo:o/r\" = USD }}")
    text = "; ".join(f"{target}={amount}" for target, amount in monthly.items())
    return {"pr_budget_cap_usd": None if cap is None else float(cap), "monthly_budgets": parse_budgets(text)}


def parse_budgets(text: str) -> tuple[tuple[str, str, float], ...]:
    """Parse `repo:owner/name=10; installation:123=50; project:group/name=5; group:acme=100` into triples."""
    budgets = []
    for item in filter(None, (part.strip() for part in text.replace("\n", ";").split(";"))):
        target, _, amount = item.partition("=")
        scope, _, key = target.strip().partition(":")
        if scope not in ("repo", "installation", "project", "group") or not key or not amount:
            raise UsageError(f"MISTRAL_REVIEW_MONTHLY_BUDGETS: expected repo:OWNER/NAME=USD, installation:ID=USD, "
                             f"project:GROUP/NAME=USD or group:GROUP=USD, not {item!r}")
        try:
            budgets.append((scope, key.strip(), float(amount)))
        except ValueError:
            raise UsageError(f"MISTRAL_REVIEW_MONTHLY_BUDGETS: {amount!r} is not a number") from None
    return tuple(budgets)
