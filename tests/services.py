"""PostgreSQL and Redis for the tests: started on free ports in throwaway folders when their binaries are installed.

Our own few lines rather than pytest-postgresql/pytest-redis: PostgreSQL refuses to run as root, which is how CI
and these machines run, so it has to be started as the `postgres` user (those plugins run it as the current user),
and the tests need nothing but one URL per service.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import free_port


@dataclass
class Service:
    """A running service: its URL and how to stop it."""

    url: str
    stop: Callable[[], None] = field(repr=False)


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL server programs (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres_user(args: list[str]) -> list[str]:
    """Run as `postgres` when we are root (PostgreSQL refuses root), else as ourselves."""
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(args)] if os.geteuid() == 0 else args


def _run(args: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode:
        detail = log.read_text()[-1500:] if log and log.exists() else done.stderr[-1500:]
        raise RuntimeError(f"{what} failed ({done.returncode}): {detail or done.stdout[-1500:]}")


def start_postgres() -> Service | None:
    """Start a throwaway PostgreSQL cluster on a free port; None when PostgreSQL is not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        return None
    work = Path(tempfile.mkdtemp(prefix="mistral-review-pg-"))
    data, log, port = work / "data", work / "postgres.log", free_port()
    options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    pg_ctl = str(bin_dir / "pg_ctl")

    def stop() -> None:
        if data.exists():
            subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)

    try:
        if os.geteuid() == 0:
            shutil.chown(work, "postgres")
        _run(_as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N"]),
             "initdb")
        _run(_as_postgres_user([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "120", "-o", options, "start"]),
             "starting PostgreSQL", log)
    except BaseException:
        stop()
        raise
    return Service(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis() -> Service | None:
    """Start a throwaway Redis (no persistence) on a free port; None when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    work = Path(tempfile.mkdtemp(prefix="mistral-review-redis-"))
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(work), "--logfile", str(work / "redis.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)

    deadline = time.monotonic() + 60
    while not _answers_ping(port):
        if process.poll() is not None or time.monotonic() > deadline:
            log = (work / "redis.log").read_text()[-1500:] if (work / "redis.log").exists() else ""
            stop()
            raise RuntimeError(f"redis-server did not start: {log}")
        time.sleep(0.05)
    return Service(f"redis://127.0.0.1:{port}/0", stop)
