"""/healthz latency while slow clients hold connections open, as a ratio to /healthz without them (same run).

Subject: `mistral-review serve --no-worker` (gunicorn, the worker model it ships with) on 127.0.0.1, temp data dir.
Slow clients: half trickle a request's headers, half announce a webhook body and trickle it, one byte per
connection every --trickle seconds, never finishing; they live only while a measured phase runs (bounded in time).
Goal: p99 under 100 ms with 50 slow clients. Run: python bench/slow_clients_bench.py [--slow 50] [--requests 300]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_bench import HOST, SECRET, Target  # noqa: E402

PHASE_CAP_S = 60.0  # no measured phase (and so no slow client) lives longer than this


class SlowClients:
    """`count` connections to the server that send a byte now and then and never finish their request."""

    def __init__(self, port: int, count: int, trickle_s: float) -> None:
        self._port, self._trickle_s = port, trickle_s
        self._stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.dropped = 0
        for i in range(count):
            conn = socket.create_connection((HOST, port), timeout=10)
            if i % 2:
                conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: bench\r\nX-GitHub-Event: ping\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            else:
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
            self.conns.append(conn)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        live = list(self.conns)
        while live and not self._stop.wait(self._trickle_s):
            for conn in list(live):
                try:
                    conn.sendall(b" ")
                except OSError:  # the server gave up on it: no longer held
                    live.remove(conn)
                    self.dropped += 1

    def close(self) -> None:
        """Stop trickling and close every connection."""
        self._stop.set()
        self._thread.join()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()


def time_healthz(port: int, requests: int, cap_s: float) -> dict[str, Any]:
    """GET /healthz `requests` times, one new connection each; return latencies (s) and failures."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    start = time.perf_counter()
    for _ in range(requests):
        if time.perf_counter() - start > cap_s:
            failures["cap"] = failures.get("cap", 0) + 1
            continue
        began = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            conn.request("GET", "/healthz")
            answer = conn.getresponse()
            answer.read()
            conn.close()
            outcome = str(answer.status)
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
        if outcome == "200":
            latencies.append(time.perf_counter() - began)
        else:
            failures[outcome] = failures.get(outcome, 0) + 1
    return {"latencies": latencies, "failures": failures}


def figures(run: dict[str, Any]) -> dict[str, Any]:
    """Return p50/p99/max in ms of one phase, and its failures."""
    lat = run["latencies"]
    if len(lat) < 2:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "ok": len(lat), "failures": run["failures"]}
    cuts = statistics.quantiles(lat, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2),
            "max_ms": round(max(lat) * 1000, 2), "ok": len(lat), "failures": run["failures"]}


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", type=int, default=50, help="slow connections held open during the loaded phase")
    ap.add_argument("--requests", type=int, default=300, help="/healthz requests per phase")
    ap.add_argument("--rounds", type=int, default=2, help="baseline + loaded phases, alternating")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--trickle", type=float, default=0.5, help="seconds between a slow client's bytes")
    return ap.parse_args()


def main() -> int:
    """Run the benchmark; print JSON figures and a Markdown row; exit 1 when the goal is missed."""
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="slow-clients-bench-"))
    (tmp / "prom").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN="bench", MISTRAL_API_KEY="bench",
               MISTRAL_REVIEW_DATA_DIR=str(tmp / "data"), PROMETHEUS_MULTIPROC_DIR=str(tmp / "prom"))
    target = Target("subject", [sys.executable, "-m", "bot.cli", "serve", "--host", HOST, "--workers",
                                str(args.workers), "--no-worker", "--port"], env, tmp / "serve.log", "200")
    rounds: list[dict[str, Any]] = []
    dropped = 0
    try:
        target.wait_ready()
        time_healthz(target.port, 30, PHASE_CAP_S)  # warm-up
        for _ in range(args.rounds):
            baseline = figures(time_healthz(target.port, args.requests, PHASE_CAP_S))
            slow = SlowClients(target.port, args.slow, args.trickle)
            try:
                time.sleep(max(1.0, 2 * args.trickle))  # every slow connection has reached a worker thread
                loaded = figures(time_healthz(target.port, args.requests, PHASE_CAP_S))
            finally:
                slow.close()
                dropped += slow.dropped
            rounds.append({"baseline": baseline, "slow_clients": loaded})
    finally:
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def median(phase: str, key: str) -> float | None:
        values = [r[phase][key] for r in rounds if r[phase][key] is not None]
        return round(statistics.median(values), 2) if len(values) == len(rounds) else None

    base, load = ({k: median(p, k) for k in ("p50_ms", "p99_ms", "max_ms")} for p in ("baseline", "slow_clients"))
    ratio = round(load["p99_ms"] / base["p99_ms"], 2) if load["p99_ms"] and base["p99_ms"] else None
    failures = sum(sum(r[p]["failures"].values()) for r in rounds for p in r)
    goal = load["p99_ms"] is not None and load["p99_ms"] < 100 and failures == 0
    print(json.dumps({"slow": args.slow, "requests": args.requests, "workers": args.workers, "cpus": os.cpu_count(),
                      "baseline": base, "slow_clients": load, "p99_ratio": ratio,
                      "slow_connections_dropped_by_server": dropped, "failures": failures,
                      "goal_p99_under_100ms": goal, "per_round": rounds}, indent=2))
    print(f"| {args.slow} | {args.requests} | {base['p50_ms']} | {base['p99_ms']} | {load['p50_ms']} | "
          f"{load['p99_ms']} | {ratio} | {failures} |")
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
