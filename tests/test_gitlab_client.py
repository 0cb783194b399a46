"""The GitLab client's retries and pacing, with real python-gitlab against the GitLab double."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from bot.hosts.gitlab.client import GitLabClient, GitLabError
from bot.hosts.gitlab.merge_request import MergeRequestHandle
from tests.doubles.gitlab import GitLabDouble
from tests.mergerequests import HEAD_SHA, PROJECT, opened_mr
from tests.servers import free_port


@pytest.fixture()
def gl() -> Iterator[GitLabDouble]:
    with opened_mr("medium-multi-file.diff") as double:
        yield double


def _client(gl: GitLabDouble, waits: list[float], **extra: float) -> GitLabClient:
    return GitLabClient(token="glpat-bot", url=gl.url, sleep=waits.append, **extra)  # type: ignore[arg-type]


def test_a_429_waits_the_whole_seconds_of_retry_after_then_succeeds(gl: GitLabDouble) -> None:
    waits: list[float] = []
    gl.rate_limit("GET", r"/merge_requests/3$", retry_after=7)
    info = MergeRequestHandle(_client(gl, waits), PROJECT, 3).info()
    assert info.head_sha == HEAD_SHA and waits == [7.0]


def test_a_429_without_retry_after_waits_until_ratelimit_reset(gl: GitLabDouble) -> None:
    waits: list[float] = []
    gl.fail_next("GET", r"/merge_requests/3$", status=429, body="Retry later",
                 headers={"RateLimit-Reset": str(int(time.time()) + 20)})
    MergeRequestHandle(_client(gl, waits), PROJECT, 3).info()
    assert len(waits) == 1 and 15 <= waits[0] <= 20


def test_server_errors_are_retried_a_bounded_number_of_times_then_fail_in_one_line(gl: GitLabDouble) -> None:
    waits: list[float] = []
    gl.fail_next("GET", r"/diffs$", status=502, body="502 Bad Gateway", times=2)
    files, cut = MergeRequestHandle(_client(gl, waits), PROJECT, 3).files()
    assert len(files) == 24 and not cut and len(waits) == 2
    gl.fail_next("GET", r"/diffs$", status=500, body={"message": "500 Internal Server Error"}, times=9)
    with pytest.raises(GitLabError) as failed:
        MergeRequestHandle(_client(gl, [], attempts=3), PROJECT, 3).files()
    assert "HTTP 500" in str(failed.value) and "\n" not in str(failed.value)


def test_an_unreachable_gitlab_is_one_clear_line() -> None:
    client = GitLabClient(token="glpat-bot", url=f"http://127.0.0.1:{free_port()}", sleep=lambda s: None, attempts=2)
    with pytest.raises(GitLabError, match="could not reach GitLab to read the merge request"):
        MergeRequestHandle(client, PROJECT, 3).info()


def test_writes_are_paced_and_reads_are_not(gl: GitLabDouble) -> None:
    waits: list[float] = []
    now = [1000.0]
    client = GitLabClient(token="glpat-bot", url=gl.url, sleep=waits.append, clock=lambda: now[0], write_interval_s=1.0)
    mr = MergeRequestHandle(client, PROJECT, 3)
    mr.info()
    first = mr.upsert_comment(None, "one")
    now[0] += 0.25
    mr.upsert_comment(first, "two")
    mr.issue_comments()
    assert waits == [0.75]


def test_a_429_whose_wait_headers_are_not_plain_digits_falls_back_to_the_policy(gl: GitLabDouble) -> None:
    waits: list[float] = []
    gl.fail_next("GET", r"/merge_requests/3$", status=429, body="Retry later",
                 headers={"Retry-After": "\u00b2", "RateLimit-Reset": "9" * 5000})
    assert MergeRequestHandle(_client(gl, waits, max_wait_s=5.0), PROJECT, 3).info().head_sha == HEAD_SHA
    assert len(waits) == 1 and 0 < waits[0] <= 5.0


def _write_from_threads(client: GitLabClient, threads: int, writes: int) -> None:
    """Post `writes` notes from each of `threads` threads that start together (one shared client, as the worker has)."""
    start = threading.Barrier(threads)

    def post() -> None:
        start.wait()
        for n in range(writes):
            client.write("POST", f"/projects/{quote(PROJECT, safe='')}/merge_requests/3/notes", {"body": f"n{n}"})

    pool = [threading.Thread(target=post) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def test_writes_from_several_threads_each_get_their_own_turn(gl: GitLabDouble) -> None:
    waits: list[float] = []  # the clock stands still: each write must wait one more interval than the one before
    client = GitLabClient(token="glpat-bot", url=gl.url, sleep=waits.append, clock=lambda: 1000.0, write_interval_s=1.0)
    _write_from_threads(client, threads=4, writes=3)
    assert sorted(waits) == [float(n) for n in range(1, 12)] and len(gl.notes(PROJECT, 3)) == 12


def test_writes_from_several_threads_reach_gitlab_spaced_by_the_interval(gl: GitLabDouble) -> None:
    arrivals: list[float] = []
    handle = gl._handle

    def timed(method: str, *args: Any) -> Any:
        if method != "GET":
            arrivals.append(time.monotonic())
        return handle(method, *args)

    gl._handle = timed  # type: ignore[method-assign]
    _write_from_threads(GitLabClient(token="glpat-bot", url=gl.url, write_interval_s=0.1), threads=4, writes=3)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # The interval is the issue's requirement; half of it is the slack left for a loaded machine's jitter.
    assert len(arrivals) == 12 and min(gaps) >= 0.05, gaps
