"""The front door under real gunicorn: what the test client cannot show (chunked bodies, raw header bytes, slow clients)."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import SECRET, Server

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("front-door-gunicorn")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "GITHUB_WEBHOOK_SECRET": SECRET,
           "GITHUB_TOKEN": "ghp_test", "MISTRAL_API_KEY": "test-key", "MISTRAL_REVIEW_DATA_DIR": str(data_dir)}
    running = Server(env, Path(data_dir))
    yield running
    running.stop()


def _status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _raw(server: Server, head: bytes, timeout: float = 30.0) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    conn.sendall(head)
    return conn


def test_a_chunked_body_over_25_mb_is_413_not_401(server: Server) -> None:
    conn = _raw(server, b"POST /webhook HTTP/1.1\r\nHost: t\r\nX-GitHub-Event: ping\r\nContent-Type: application/json\r\n"
                        b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % MB + b" " * MB + b"\r\n"
    try:
        for _ in range(30):  # 30 MB at most; the server answers once it has read past 25 MB
            if select.select([conn], [], [], 0)[0]:
                break
            conn.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while we were still sending
    answer = conn.recv(4096)
    conn.close()
    assert _status_of(answer) == 413, answer[:200]


def test_raw_non_ascii_signature_bytes_are_401(server: Server) -> None:
    body = b'{"zen": "hi"}'
    conn = _raw(server, b"POST /webhook HTTP/1.1\r\nHost: t\r\nX-GitHub-Event: ping\r\nConnection: close\r\n"
                        b"X-Hub-Signature-256: sha256=" + "é".encode() * 32 + b"\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answer = conn.recv(4096)
    conn.close()
    assert _status_of(answer) == 401, answer[:200]


def test_healthz_answers_while_slow_clients_hold_connections(server: Server) -> None:
    stop, errors = threading.Event(), []
    slow = [_raw(server, b"POST /webhook HTTP/1.1\r\nHost: t\r\nX-Slow: ") for _ in range(8)]  # 4 per worker process

    def trickle() -> None:  # a header byte now and then, never finishing the request
        while not stop.wait(0.3):
            for conn in slow:
                try:
                    conn.sendall(b"a")
                except OSError as exc:
                    errors.append(exc)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        time.sleep(1.0)  # let every worker take its share of the slow connections
        answers = [server.get("/healthz")[0] for _ in range(10)]  # urllib waits up to 30 s each
    finally:
        stop.set()
        sender.join()
        for conn in slow:
            conn.close()
    assert answers == [200] * 10
    assert errors == []  # the slow clients were still connected and sending all along
