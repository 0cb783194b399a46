"""The GitLab connection: the only module besides its siblings that imports python-gitlab.

Requests go through python-gitlab's low-level `http_*` calls with its own retries off, so only
bot/retry.py retries (429 with Retry-After in seconds or as a date, or RateLimit-Reset; 5xx; connection
errors). Writes are paced; a POST that creates something is never repeated blind: before a retry,
`landed` looks for it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from typing import Any, TypeVar
from urllib.parse import quote

import gitlab
from gitlab.exceptions import GitlabError, GitlabHttpError

from bot.core.errors import ReviewError, UsageError
from bot.core.sizecaps import TooLarge
from bot.core.wait_hints import wait_hint
from bot.retry import RetryPolicy, checking_first, retrying

T = TypeVar("T")
NO_RETRY: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False, "max_retries": 0}
JOB_TOKEN_PREFIX = "glcbt-"
TOKEN_HELP = ("GITLAB_TOKEN needs a project, group or personal access token with the api scope "
              "(a CI job token cannot post notes or read discussions)")


class GitLabError(ReviewError):
    """GitLab refused or failed a request; carries its status and message."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status, self.detail = status, detail

    @property
    def bad_position(self) -> bool:
        """Return whether GitLab refused a diff note's position (its 400 names line_code or position)."""
        return self.status == 400 and ("line_code" in self.detail or ":position" in self.detail)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, GitlabHttpError):
        return exc.response_code is not None and (exc.response_code == 429 or exc.response_code >= 500)
    return isinstance(exc, OSError)  # requests' connection errors and timeouts are OSErrors


def project_ref(project: str | int) -> str:
    """Return a project id or path as it goes into a URL (group/sub/project -> group%2Fsub%2Fproject)."""
    return quote(str(project), safe="")


class GitLabClient:
    """One authenticated connection to GitLab.com, a self-managed instance, or a test double."""

    def __init__(self, *, token: str, url: str = "https://gitlab.com", identity: str | None = None,
                 attempts: int = 5, max_wait_s: float = 60.0, total_s: float = 300.0, write_interval_s: float = 0.25,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._gl = gitlab.Gitlab(url.rstrip("/"), private_token=token, per_page=100, timeout=30,
                                 retry_transient_errors=False, keep_base_url=True)
        self._gl.session.hooks["response"].append(self._remember)
        self.web_url = url.rstrip("/") + "/"  # GitLab serves its web pages and its API at the same address
        # One client serves every worker thread: a 429's headers are kept per thread (the hook runs on the thread
        # that made the request), and the write pacing and the request count are shared under a lock.
        self._local = threading.local()
        self._lock = threading.Lock()
        self._identity: str | None = identity
        self._user_id: int | None = None
        self._policy, self._sleep, self._clock = RetryPolicy(attempts, max_wait_s, total_s), sleep, clock
        self._wall_clock = wall_clock  # for Retry-After dates and RateLimit-Reset; `clock` paces writes
        # GitLab's default notes rate limit is 300 a minute per user, and publishing a draft counts as a note:
        # 4 writes a second leaves room for a review's drafts and their publishing in the same minute.
        self._write_interval, self._last_write = write_interval_s, -1e9
        self.requests = 0  # every HTTP request made, for the figures in bench/

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.requests += 1
        if response.status_code >= 400:
            self._local.headers = {k.lower(): v for k, v in response.headers.items()}

    def _hint(self, exc: BaseException | None) -> float | None:
        """Return GitLab's own word on how long to wait: Retry-After, else RateLimit-Reset."""
        if not isinstance(exc, GitlabHttpError) or exc.response_code != 429:
            return None
        return wait_hint(getattr(self._local, "headers", {}), now=self._wall_clock(), reset_header="ratelimit-reset")

    def call(self, what: str, fn: Callable[[], T], *, landed: Callable[[], T | None] | None = None) -> T:
        """Run one request with retries; with `landed`, a retry first checks whether the last try took effect."""
        try:
            retrier = retrying(self._policy, retryable=_retryable, hint=self._hint, sleep=self._sleep)
            return retrier(checking_first(fn, landed))
        except GitlabError as exc:
            detail = str(exc.error_message)
            if exc.response_code == 401:
                raise GitLabError(f"GitLab refused the token to {what} (HTTP 401): {TOKEN_HELP}", status=401) from None
            raise GitLabError(f"GitLab refused to {what}: HTTP {exc.response_code} {detail}".strip(),
                              status=exc.response_code, detail=detail) from None
        except OSError as exc:
            raise GitLabError(f"could not reach GitLab to {what}: {type(exc).__name__}") from None

    def sleep_for(self, seconds: float) -> None:
        """Wait (through the injected sleep, so tests do not)."""
        self._sleep(seconds)

    def _pace(self) -> None:
        """Wait for this write's turn: each write takes the next slot at least the interval after the last one."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._last_write + self._write_interval)
            self._last_write = slot
        if slot > now:
            self._sleep(slot - now)

    def get(self, path: str, **query: Any) -> Any:
        """GET one object (JSON)."""
        return self._gl.http_get(path, query_data=query, **NO_RETRY)

    def raw(self, path: str, *, limit: int | None = None, **query: Any) -> bytes:
        """GET a file's bytes; over `limit`, raise TooLarge having read no more than one chunk past it."""
        if limit is None:
            answer = self._gl.http_get(path, query_data=query, raw=True, **NO_RETRY)
            return bytes(answer.content) if hasattr(answer, "content") else json.dumps(answer).encode()
        response: Any = self._gl.http_get(path, query_data=query, raw=True, streamed=True, **NO_RETRY)
        with closing(response):
            data = bytearray()
            for chunk in response.iter_content(65_536):
                data += chunk
                if len(data) > limit:
                    raise TooLarge(len(data))
        return bytes(data)

    def list(self, path: str, **query: Any) -> list[dict[str, Any]]:
        """GET every page of a list (python-gitlab follows the absolute Link rel=next)."""
        return list(self._gl.http_list(path, query_data=query, get_all=True, **NO_RETRY))

    def write(self, verb: str, path: str, data: dict[str, Any] | None = None) -> Any:
        """POST, PUT or DELETE, paced; returns the JSON answer (None when there is none)."""
        self._pace()
        if verb == "DELETE":
            self._gl.http_delete(path, **NO_RETRY)
            return None
        send = self._gl.http_post if verb == "POST" else self._gl.http_put
        answer = send(path, post_data=data or {}, **NO_RETRY)
        return answer if isinstance(answer, (dict, list)) else None

    def whoami(self) -> tuple[str, int]:
        """Return the username and id the bot posts as."""
        if self._user_id is None:
            user = self.call("read the token's user", lambda: self.get("/user"))
            self._identity = self._identity or str(user["username"])
            self._user_id = int(user["id"])
        assert self._identity is not None and self._user_id is not None
        return self._identity, self._user_id

    def identity(self) -> str:
        """Return the username the bot posts as."""
        return self.whoami()[0]


def check_token(token: str, job_token: str = "") -> None:
    """Raise a UsageError for a missing token or a CI job token (which cannot post notes)."""
    if not token:
        raise UsageError(f"GITLAB_TOKEN is not set: {TOKEN_HELP}")
    if token.startswith(JOB_TOKEN_PREFIX) or token == job_token:
        raise UsageError(f"GITLAB_TOKEN is a CI job token: {TOKEN_HELP}")


def client_from_env(env: Mapping[str, str]) -> GitLabClient:
    """Build a client from GITLAB_TOKEN and GITLAB_URL (default https://gitlab.com)."""
    token = env.get("GITLAB_TOKEN") or ""
    check_token(token, env.get("CI_JOB_TOKEN") or "")
    return GitLabClient(token=token, url=env.get("GITLAB_URL") or "https://gitlab.com",
                        write_interval_s=float(env.get("MISTRAL_REVIEW_GITLAB_WRITE_INTERVAL_S") or 0.25),
                        max_wait_s=float(env.get("MISTRAL_REVIEW_GITLAB_MAX_WAIT_S") or 60.0))
