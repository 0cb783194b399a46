"""Progress on stderr: plain lines when stderr is not a terminal, and a heartbeat while the model is silent.

The model server here accepts the connection, reads the request and never answers, as a stuck server does.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.errors import UsageError
from bot.review.progress import Progress, heartbeat_interval
from tests.conftest import FIXTURES

ROOT = Path(__file__).parent.parent


@pytest.fixture()
def stalled_server() -> Iterator[str]:
    """A server on 127.0.0.1 that accepts, reads the request and never answers; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.recv(65536)  # the request's first bytes; the answer never comes
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_server_that_never_answers_gets_heartbeat_lines_then_a_plain_failure(stalled_server: str) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "MISTRAL_API_KEY": "test-key",
           "MISTRAL_SERVER_URL": stalled_server, "MISTRAL_REVIEW_TIMEOUT_S": "3", "MISTRAL_REVIEW_TIMEOUT_PER_1K_S": "0",
           "MISTRAL_REVIEW_RETRY_ATTEMPTS": "1", "MISTRAL_REVIEW_HEARTBEAT_S": "0.5"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "review", "--diff-file",
                           str(FIXTURES / "diffs" / "tiny-one-line-fix.diff")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "\r" not in done.stderr  # stderr is a pipe here: whole lines only
    lines = done.stderr.splitlines()
    beats = [line for line in lines if line.startswith("waiting for the model:")]
    assert len(beats) >= 3, done.stderr  # about six in a 3 s timeout at one every 0.5 s
    assert all(re.fullmatch(r"waiting for the model: batch 1/1, \d+ s", line) for line in beats)
    seconds = [int(line.split(", ")[1].removesuffix(" s")) for line in beats]
    assert seconds == sorted(seconds) and seconds[-1] >= 1
    assert "reviewing: 1/1 batch(es) done" in lines
    assert lines.index("reviewing: 1/1 batch(es) done") > lines.index(beats[-1])  # no beat after the end


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_line_rewritten_in_place() -> None:
    stream = _Terminal()
    with Progress(stream, verb="reviewing", noun="batch", plural="batch(es)", total=2, interval_s=60) as progress:
        progress.update(1, 2)
        progress.update(2, 2)
    assert stream.getvalue() == "\rreviewing: 1/2 batch(es) done\x1b[K\rreviewing: 2/2 batch(es) done\x1b[K\n"


def test_a_log_gets_one_line_per_report() -> None:
    stream = io.StringIO()
    with Progress(stream, verb="evaluating", noun="case", plural="case run(s)", total=2, interval_s=60) as progress:
        progress.update(1, 2)
        progress.update(2, 2)
    assert stream.getvalue() == "evaluating: 1/2 case run(s) done\nevaluating: 2/2 case run(s) done\n"


@pytest.mark.parametrize(("raw", "seconds"), [("", 15.0), ("0.5", 0.5), ("30", 30.0)])
def test_the_heartbeat_interval_comes_from_the_environment(raw: str, seconds: float) -> None:
    assert heartbeat_interval({"MISTRAL_REVIEW_HEARTBEAT_S": raw}) == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan", "9999"])
def test_a_bad_heartbeat_interval_is_a_usage_error(raw: str) -> None:
    with pytest.raises(UsageError, match="MISTRAL_REVIEW_HEARTBEAT_S"):
        heartbeat_interval({"MISTRAL_REVIEW_HEARTBEAT_S": raw})
