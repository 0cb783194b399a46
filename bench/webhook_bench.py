"""Webhook acknowledgement under gunicorn: p50/p99 and throughput as ratios to a bare Flask endpoint (same run).

Baseline answers 204 after reading the body; the subject is `mistral-review serve --no-worker` on a temp data dir.
Goal: p99_ratio <= 2. Run: python bench/webhook_bench.py [--requests 2000] [--clients 8] [--workers 2] [--host gitlab]
(--host gitlab: GitLab merge request deliveries to POST /webhook/gitlab, checked by X-Gitlab-Token.)
Markdown row: requests | clients | workers | base p50 | base p99 | subj p50 | subj p99 (ms) | ratios | errors.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.hosts.github.events import sign  # noqa: E402
from bot.server.serve import gunicorn_options  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "webhooks" / "pull_request.opened.json"
GITLAB_FIXTURE = ROOT / "tests" / "fixtures" / "gitlab" / "webhook.merge_request.open.gitlab-com.json"
SECRET, HOST = "bench-webhook-secret", "127.0.0.1"
ROUTES = {"github": "/webhook", "gitlab": "/webhook/gitlab"}
WARMUP, BUDGET_S = 50, 90.0  # warm-up deliveries per run; start no new round past this many seconds
_PR_NUMBERS = itertools.count(10_000)
Delivery = tuple[str, bytes, dict[str, str]]


def serve_bare(port: int, workers: int) -> None:
    """Serve the baseline app under gunicorn with the options `mistral-review serve` uses."""
    from flask import Flask, request
    from gunicorn.app.base import BaseApplication

    app = Flask("bare")
    app.add_url_rule("/healthz", "healthz", lambda: "ok")

    def webhook() -> tuple[str, int]:
        request.get_data(cache=False)
        return "", 204

    for path in ROUTES.values():
        app.add_url_rule(path, path, webhook, methods=["POST"])

    class Bare(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(HOST, port, workers).items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return app

    Bare().run()


class Target:
    """One server subprocess on a free port, in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, expect: str) -> None:
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = int(s.getsockname()[1])
        self.name, self.expect, self.log = name, expect, log
        with log.open("wb") as out:
            self.proc = subprocess.Popen([*argv, str(self.port)], env=env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until GET /healthz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up:\n{self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def deliveries(count: int, spread_prs: bool, host: str = "github") -> list[Delivery]:
    """Return `count` signed pull_request.opened (or GitLab merge request open) bodies, each a new head."""
    if host == "gitlab":
        return gitlab_deliveries(count, spread_prs)
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    out = []
    for _ in range(count):
        payload["pull_request"]["head"]["sha"] = (uuid.uuid4().hex + uuid.uuid4().hex)[:40]
        if spread_prs:
            payload["number"] = payload["pull_request"]["number"] = next(_PR_NUMBERS)
        body = json.dumps(payload).encode()
        out.append((ROUTES["github"], body, {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
                                             "X-GitHub-Delivery": str(uuid.uuid4()),
                                             "X-Hub-Signature-256": sign(body, SECRET)}))
    return out


def gitlab_deliveries(count: int, spread_prs: bool) -> list[Delivery]:
    """Return `count` GitLab `Merge Request Hook` open deliveries with the secret token, each a new head."""
    payload = json.loads(GITLAB_FIXTURE.read_text(encoding="utf-8"))
    attributes = payload["object_attributes"]
    out = []
    for _ in range(count):
        attributes["last_commit"]["id"] = (uuid.uuid4().hex + uuid.uuid4().hex)[:40]
        if spread_prs:
            attributes["iid"] = next(_PR_NUMBERS)
        out.append((ROUTES["gitlab"], json.dumps(payload).encode(),
                    {"Content-Type": "application/json", "X-Gitlab-Event": "Merge Request Hook",
                     "X-Gitlab-Token": SECRET, "Idempotency-Key": str(uuid.uuid4())}))
    return out


def _post(conn: http.client.HTTPConnection, delivery: Delivery) -> str:
    """POST one delivery; return "<status>[ <json status>]" or "error <exception>"."""
    try:
        conn.request("POST", *delivery)
        resp = conn.getresponse()
        data = resp.read()
        return f"{resp.status} {json.loads(data)['status']}" if data else str(resp.status)
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
        conn.close()  # http.client reopens on the next request
        return f"error {type(exc).__name__}"


def drive(target: Target, work: list[Delivery], clients: int, cap_s: float) -> dict[str, Any]:
    """Send `work` from `clients` keep-alive threads, stopping at `cap_s`; return latencies and answers."""
    todo, lock = iter(work), threading.Lock()
    latencies: list[float] = []
    answers: Counter[str] = Counter()
    start = time.perf_counter()

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, target.port, timeout=30)
        while time.perf_counter() < start + cap_s:
            with lock:
                delivery = next(todo, None)
            if delivery is None:
                break
            began = time.perf_counter()
            answer = _post(conn, delivery)
            took = time.perf_counter() - began
            with lock:
                answers[answer] += 1
                if answer == target.expect:
                    latencies.append(took)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "answers": answers, "elapsed": time.perf_counter() - start,
            "errors": len(work) - len(latencies)}  # wrong answers, failures and deliveries the cap left unsent


def figures(run: dict[str, Any]) -> dict[str, float]:
    """Return p50/p99 (ms) and throughput (acknowledged deliveries per second) of one measured run."""
    if len(run["latencies"]) < 2:
        raise RuntimeError(f"too few acknowledged deliveries: {dict(run['answers'])}")
    cuts = statistics.quantiles(run["latencies"], n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3),
            "throughput_rps": round(len(run["latencies"]) / run["elapsed"], 1)}


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="measured deliveries per target per round")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers for both servers")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cap", type=float, default=60.0, help="wall-clock cap per measured run, seconds")
    ap.add_argument("--spread-prs", action="store_true", help="give each delivery its own PR number too")
    ap.add_argument("--host", choices=sorted(ROUTES), default="github", help="whose deliveries to send")
    ap.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return ap.parse_args()


def start_targets(workers: int, tmp: Path, targets: list[Target]) -> None:
    """Start the baseline and the subject (port appended to each command line) into `targets`; wait for both."""
    (tmp / "prom").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(GITHUB_WEBHOOK_SECRET=SECRET, GITHUB_TOKEN="bench", MISTRAL_API_KEY="bench", GITLAB_WEBHOOK_SECRET=SECRET,
               GITLAB_TOKEN="glpat-bench",
               MISTRAL_REVIEW_DATA_DIR=str(tmp / "data"), PROMETHEUS_MULTIPROC_DIR=str(tmp / "prom"))
    count = ["--workers", str(workers)]
    targets.append(Target("baseline", [sys.executable, __file__, *count, "--serve-bare"], env, tmp / "bare.log", "204"))
    targets.append(Target("subject", [sys.executable, "-m", "bot.cli", "serve", "--host", HOST, *count, "--no-worker",
                                      "--port"], env, tmp / "serve.log", "202 queued"))
    for target in targets:
        target.wait_ready()


def main() -> int:
    """Run the benchmark; print the JSON figures and a Markdown row; fail when any delivery erred."""
    args = parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.workers)
        return 0
    began, tmp = time.monotonic(), Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    targets: list[Target] = []
    rounds: list[dict[str, dict[str, float]]] = []
    errors, answers = 0, {"baseline": Counter[str](), "subject": Counter[str]()}
    try:
        start_targets(args.workers, tmp, targets)
        while len(rounds) < args.rounds and (not rounds or time.monotonic() - began < BUDGET_S):
            rounds.append({})
            for target in targets:  # alternate: baseline, subject, baseline, subject
                for count in (WARMUP, args.requests):
                    run = drive(target, deliveries(count, args.spread_prs, args.host), args.clients, args.cap)
                    errors += run["errors"]
                    answers[target.name].update(run["answers"])
                rounds[-1][target.name] = figures(run)
    finally:
        for target in targets:
            target.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    base, subj = ({k: round(statistics.median(r[name][k] for r in rounds), 3) for k in rounds[0][name]}
                  for name in ("baseline", "subject"))
    ratio = {k: round(subj[k] / base[k], 3) for k in ("p50_ms", "p99_ms", "throughput_rps")}
    result = {"host": args.host, "requests": args.requests, "clients": args.clients, "workers": args.workers, "rounds": len(rounds),
              "spread_prs": args.spread_prs, "cpus": os.cpu_count(), "baseline": base, "subject": subj,
              "p50_ratio": ratio["p50_ms"], "p99_ratio": ratio["p99_ms"], "throughput_ratio": ratio["throughput_rps"],
              "goal_p99_ratio_le_2": ratio["p99_ms"] <= 2, "errors": errors,
              "answers": {name: dict(c) for name, c in answers.items()}, "per_round": rounds}
    print(json.dumps(result, indent=2))
    print(f"| {args.requests} | {args.clients} | {args.workers} | {base['p50_ms']:.2f} | {base['p99_ms']:.2f} | "
          f"{subj['p50_ms']:.2f} | {subj['p99_ms']:.2f} | {ratio['p50_ms']:.2f} | {ratio['p99_ms']:.2f} | "
          f"{ratio['throughput_rps']:.3f} | {errors} |")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
