"""An operator's first hour: where `serve` listens, where the data lives, what a mistake looks like, the dashboard cookie.

Every test runs the real `mistral-review` command as a process, as an operator would.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from bot.cli import main
from bot.server import SERVER_LIBRARIES
from tests.servers import ROOT, SECRET, Process, free_port, wait_for

TOKEN = "dashboard-token-for-tests"


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no XDG variables, so the data dir follows HOME as on a fresh account."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": "ghp_test",
            "MISTRAL_API_KEY": "test-key", "MISTRAL_REVIEW_DASHBOARD_TOKEN": TOKEN, **extra}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One GET that does not follow redirects."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


def _listening(log: Path, process: Process) -> str:
    def said() -> bool:
        if process.proc.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()[-2000:]}")
        return "listening on" in log.read_text()

    wait_for(said, what=f"serve to say where it listens (see {log})")
    return next(line for line in log.read_text().splitlines() if "listening on" in line)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def served(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """`serve` as an operator first starts it: no --host, no data dir set, from some folder."""
    here = tmp_path_factory.mktemp("started-here")
    port = free_port()
    log = here / "serve.log"
    process = Process(["serve", "--port", str(port), "--no-worker"], _env(home), log)
    try:
        yield port, _listening(log, process)
    finally:
        process.stop()


def test_serve_listens_on_loopback_by_default_and_says_where(served: tuple[int, str]) -> None:
    port, line = served
    assert line == f"mistral-review: listening on http://127.0.0.1:{port}"
    assert _get(port, "/healthz").status == 200
    with socket.socket() as other, pytest.raises(ConnectionRefusedError):
        other.connect(("127.0.0.2", port))  # another address of this machine: nothing listens there


def test_serve_worker_and_spend_agree_on_the_data_dir_wherever_started(served: tuple[int, str], home: Path,
                                                                       tmp_path: Path) -> None:
    data_dir = home / ".local" / "share" / "mistral-review"
    assert (data_dir / "ledger.db").is_file()  # serve made it in the per-user data dir, not in its folder
    done = _run(["spend"], _env(home), cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "No reviews recorded.\n", "")  # it found serve's ledger


def test_spend_before_the_first_review_prints_an_empty_report(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh-home"
    done = _run(["spend"], _env(fresh), cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "No reviews recorded.\n")
    assert f"no ledger yet at {fresh}/.local/share/mistral-review/ledger.db" in done.stderr
    as_json = _run(["spend", "--format", "json"], _env(fresh), cwd=tmp_path)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["repos"] == []
    chosen = tmp_path / "chosen"
    elsewhere = _run(["spend"], _env(fresh, MISTRAL_REVIEW_DATA_DIR=str(chosen)), cwd=tmp_path)
    assert elsewhere.returncode == 0 and f"no ledger yet at {chosen}/ledger.db" in elsewhere.stderr
    assert not fresh.exists() and not chosen.exists()  # a report creates nothing


@pytest.mark.parametrize("command,variable", [("serve", "DATABASE_URL"), ("serve", "REDIS_URL"),
                                              ("worker", "DATABASE_URL"), ("worker", "REDIS_URL"),
                                              ("spend", "DATABASE_URL")])
def test_an_unreachable_database_or_redis_is_one_line_and_exit_2(command: str, variable: str, tmp_path: Path) -> None:
    closed = free_port()  # bound and released: nothing listens there
    url = {"DATABASE_URL": f"postgresql+psycopg://review:hunter2-secret@127.0.0.1:{closed}/ledger",
           "REDIS_URL": f"redis://:hunter2-secret@127.0.0.1:{closed}/0"}[variable]
    args = ["serve", "--port", str(free_port()), "--no-worker"] if command == "serve" else [command]
    done = _run(args, _env(tmp_path / "home", MISTRAL_REVIEW_DATA_DIR=str(tmp_path / "data"), **{variable: url}),
                cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"mistral-review: error: cannot reach {variable}: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert done.stdout == ""


def test_the_dashboard_cookie_is_a_signed_session_never_the_token(served: tuple[int, str]) -> None:
    port, _ = served
    traded = _get(port, f"/dashboard?token={TOKEN}")
    assert traded.status == 303
    header = traded.headers["Set-Cookie"]
    cookie = SimpleCookie(header)["mr_dashboard"]
    assert TOKEN not in header and len(cookie.value) > 40
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert _get(port, "/dashboard", {"Cookie": f"mr_dashboard={cookie.value}"}).status == 200
    again = SimpleCookie(_get(port, f"/dashboard?token={TOKEN}").headers["Set-Cookie"])["mr_dashboard"]
    assert again.value != cookie.value  # a random session each time
    forged = cookie.value[:-1] + ("0" if cookie.value[-1] != "0" else "1")
    for value in (TOKEN, forged, "x.9999999999.y", "x.\u00b2.y", ""):
        assert _get(port, "/dashboard", {"Cookie": f"mr_dashboard={value}"}).status == 401, value
    basic = base64.b64encode(f"admin:{TOKEN}".encode()).decode()
    stale = {"Cookie": f"mr_dashboard={TOKEN}", "Authorization": f"Basic {basic}"}  # an old cookie, then the login
    assert _get(port, "/dashboard", stale).status == 200


def test_the_dashboard_cookie_is_not_secure_only_under_dev(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    process = Process(["serve", "--dev", "--port", str(port), "--no-worker"],
                      _env(tmp_path / "home", MISTRAL_REVIEW_DATA_DIR=str(tmp_path / "data")), log)
    try:
        assert f"http://127.0.0.1:{port}" in _listening(log, process)
        wait_for(lambda: _up(port), what="the development server")
        cookie = SimpleCookie(_get(port, f"/dashboard?token={TOKEN}").headers["Set-Cookie"])["mr_dashboard"]
        assert not cookie["secure"] and cookie["httponly"]
    finally:
        process.stop()


def _up(port: int) -> bool:
    try:
        return _get(port, "/healthz").status == 200
    except OSError:
        return False


@pytest.mark.parametrize("command", ["serve", "worker", "spend"])
def test_server_commands_without_the_server_extra_say_how_to_install_it(command: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for library in SERVER_LIBRARIES:
        monkeypatch.setitem(sys.modules, library, None)  # as on a base install: the import system finds none
    out, err = io.StringIO(), io.StringIO()
    assert main([command], env={}, out=out, err=err) == 2
    assert err.getvalue().count("\n") == 1 and "pip install 'mistral-review[server]'" in err.getvalue()
    assert out.getvalue() == ""
