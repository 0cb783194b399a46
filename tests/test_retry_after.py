"""A server's `Retry-After`, in seconds or as an HTTP date, is honoured by GitHub, GitLab and the model alike.

The parser (bot/core/wait_hints.py) is the only reader of the header; the clients are driven for real against
their doubles, with the sleep and the wall clock injected so the requested waits are recorded, not slept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.wait_hints import MAX_HINT_S, reset_in_s, retry_after_s, wait_hint
from bot.hosts.github.client import GitHubClient
from bot.hosts.gitlab.client import GitLabClient
from bot.hosts.gitlab.merge_request import MergeRequestHandle
from bot.llm.mistral import MistralModel
from bot.retry import RetryPolicy
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.mergerequests import HEAD_SHA, PROJECT, opened_mr

NOW = 1_800_000_000  # the wall clock the clients are given: 2027-01-15 08:00:00 UTC
REPO = "acme/widgets"
PULL_PATH = rf"^/repos/{REPO}/pulls/7$"


def http_date(epoch: float) -> str:
    """Return `epoch` as an HTTP date (IMF-fixdate), as servers write Retry-After."""
    return formatdate(epoch, usegmt=True)


# ---------------------------------------------------------------- the parser


def test_seconds_and_http_dates_are_read_as_a_wait_from_now() -> None:
    assert retry_after_s("7", now=NOW) == 7.0
    assert retry_after_s(" 120 ", now=NOW) == 120.0
    assert retry_after_s("0.5", now=NOW) == 0.5  # OpenAI-compatible model servers send decimals
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412478) == 2.0
    assert retry_after_s(http_date(NOW + 3), now=NOW) == 3.0
    assert retry_after_s("Friday, 15-Jan-27 08:00:05 GMT", now=NOW) == 5.0  # RFC 850, which servers may still send


def test_a_date_in_the_past_is_no_wait_and_garbage_is_no_hint() -> None:
    assert retry_after_s(http_date(NOW - 3600), now=NOW) == 0.0
    for garbage in ("", "soon", "-1", "1e3", "inf", "nan", "\xb2", "\u0663", "9" * 13, "Wed, 32 Oct 2015 07:28:00 GMT",
                    "Wed, 21 Oct 99999 07:28:00 GMT", "7" * 5000, None):
        assert retry_after_s(garbage, now=NOW) is None, garbage


def test_a_far_wait_is_bounded() -> None:
    assert retry_after_s("9" * 12, now=NOW) == MAX_HINT_S
    assert retry_after_s("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == MAX_HINT_S
    assert reset_in_s(str(NOW + 10**9), now=NOW) == MAX_HINT_S


def test_a_reset_time_counts_only_without_a_retry_after() -> None:
    headers = {"Retry-After": http_date(NOW + 4), "RateLimit-Reset": str(NOW + 30)}
    assert wait_hint(headers, now=NOW, reset_header="ratelimit-reset") == 4.0
    assert wait_hint({"RateLimit-Reset": str(NOW + 30)}, now=NOW, reset_header="ratelimit-reset") == 30.0
    assert wait_hint({"RateLimit-Reset": str(NOW + 30)}, now=NOW) is None
    assert wait_hint({"x-ratelimit-reset": str(NOW - 5)}, now=NOW, reset_header="x-ratelimit-reset") == 0.0


HEADER_TEXT = (st.text(max_size=80)
               | st.builds(http_date, st.floats(-1e10, 1e11))
               | st.from_regex(r"[A-Za-z]{3}, [0-9]{1,3} [A-Za-z]{3} -?[0-9]{1,6} [0-9:]{1,9}( [A-Z+0-9-]{1,5})?",
                               fullmatch=True)
               | st.integers(0, 6000).map(lambda n: "9" * n))


@settings(max_examples=400, deadline=None, database=None)
@given(HEADER_TEXT, st.floats(-1e11, 1e11))
def test_any_header_text_is_no_hint_or_a_bounded_wait(value: str, now: float) -> None:
    for found in (retry_after_s(value, now=now), reset_in_s(value, now=now),
                  wait_hint({"Retry-After": value, "RateLimit-Reset": value}, now=now, reset_header="ratelimit-reset")):
        assert found is None or 0.0 <= found <= MAX_HINT_S


# ---------------------------------------------------------------- the hosts and the model


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble() as gh:
        gh.add_repo(REPO)
        gh.add_pull(REPO, 7, base_sha="a" * 40, head_sha="b" * 40, files=[])
        yield gh
        assert gh.crashes == []


def _github_client(gh: GitHubDouble, waits: list[float], clock: float | None = NOW) -> GitHubClient:
    return GitHubClient(token="t", base_url=gh.url, sleep=waits.append, write_interval_s=0,
                        wall_clock=time.time if clock is None else lambda: clock)


def test_github_waits_for_the_http_date_of_a_secondary_rate_limit_then_succeeds(github: GitHubDouble) -> None:
    waits: list[float] = []
    github.secondary_rate_limit("GET", PULL_PATH, retry_after=http_date(NOW + 3))
    assert _github_client(github, waits).pull(REPO, 7).info().number == 7
    assert waits == [3.0]
    assert [r.method for r in github.requests if r.path == f"/repos/{REPO}/pulls/7"] == ["GET", "GET"]


def test_github_waits_for_the_http_date_of_a_429_on_the_real_clock(github: GitHubDouble) -> None:
    waits: list[float] = []
    github.fail_next("GET", PULL_PATH, status=429, headers={"Retry-After": http_date(time.time() + 2)})
    assert _github_client(github, waits, clock=None).pull(REPO, 7).info().number == 7
    assert len(waits) == 1 and 0.5 <= waits[0] <= 2.0  # an HTTP date counts whole seconds


def test_gitlab_waits_for_the_http_date_of_a_429_then_succeeds() -> None:
    waits: list[float] = []
    with opened_mr("medium-multi-file.diff") as gl:
        gl.rate_limit("GET", r"/merge_requests/3$", retry_after=http_date(NOW + 3))
        client = GitLabClient(token="glpat-bot", url=gl.url, sleep=waits.append, wall_clock=lambda: NOW)
        assert MergeRequestHandle(client, PROJECT, 3).info().head_sha == HEAD_SHA
        assert waits == [3.0] and [r.method for r in gl.requests if r.path.endswith("/merge_requests/3")] == ["GET"] * 2


def test_the_model_waits_for_the_http_date_of_a_429_then_succeeds(mistral: MistralDouble) -> None:
    waits: list[float] = []
    mistral.queue(Reply(status=429, headers={"Retry-After": http_date(NOW + 3)}))
    model = MistralModel(api_key="k", model="mistral-small-2603", server_url=mistral.url,
                         policy=RetryPolicy(attempts=3, max_wait_s=30), sleep=waits.append, wall_clock=lambda: NOW)
    assert model.complete("s", "u", max_tokens=100, schema={"type": "object"}).prompt_tokens is not None
    assert waits == [3.0] and len(mistral.requests) == 2


def test_a_retry_after_date_past_the_cap_waits_the_cap(github: GitHubDouble) -> None:
    waits: list[float] = []
    github.secondary_rate_limit("GET", PULL_PATH, retry_after=http_date(NOW + 3600))
    client = GitHubClient(token="t", base_url=github.url, sleep=waits.append, write_interval_s=0, max_wait_s=5,
                          wall_clock=lambda: NOW)
    assert client.pull(REPO, 7).info().number == 7 and waits == [5.0]
