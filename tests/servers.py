"""Run the webhook server and its workers as real processes for the tests, and talk to them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.hosts.github.events import sign

ROOT = Path(__file__).parent.parent
SECRET = "webhook-secret-for-tests"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll until `check()` is true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Process:
    """One `mistral-review` subprocess with its log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._handle = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT,
                                     stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True)

    def kill9(self) -> None:
        """Kill the process (and its children) with SIGKILL, as a crash would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting for it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        """Stop the process gracefully, then forcefully."""
        self.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()
        self._handle.close()


def stop_all(processes: list[Process]) -> None:
    """Stop processes together: each is told first, so their shutdowns overlap instead of queueing."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()


class Server:
    """The webhook server on a free port, plus helpers to deliver events to it."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env, self.data_dir = env, data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2",
                                "--no-worker"], env, data_dir / "server.log")
        wait_for(self._up, what=f"the server to start (see {self.process.log})")
        self.workers: list[Process] = []

    def _up(self) -> bool:
        if self.process.proc.poll() is not None:
            raise AssertionError(f"server exited: {self.process.log.read_text()[-2000:]}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def start_worker(self, **extra: str) -> Process:
        """Start a `mistral-review worker` process."""
        worker = Process(["worker"], {**self.env, **extra}, self.data_dir / f"worker-{uuid.uuid4().hex[:8]}.log")
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        """Stop the workers and the server."""
        stop_all([*self.workers, self.process])

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | str]:
        """Make one HTTP request; return the status and the JSON (or text) answer."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """GET a path."""
        return self.request("GET", path, headers=headers)

    def deliver(self, event: str, payload: dict[str, Any] | bytes, *, delivery: str | None = None,
                signature: str | None = "good") -> tuple[int, Any]:
        """POST a webhook delivery, signed with the test secret unless told otherwise."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                   "Content-Type": "application/json"}
        if signature == "good":
            headers["X-Hub-Signature-256"] = sign(body, SECRET)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.request("POST", "/webhook", body, headers)

    def announce_oversize(self, size: int) -> int:
        """Start a POST that announces `size` bytes, send none of them, and return the status."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.putrequest("POST", "/webhook")
        for name, value in (("X-GitHub-Event", "push"), ("Content-Type", "application/json"),
                            ("Content-Length", str(size))):
            conn.putheader(name, value)
        conn.endheaders()
        status = conn.getresponse().status
        conn.close()
        return status
