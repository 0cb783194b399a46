"""Prometheus metrics: the only module that imports prometheus-client.

Webhook counts are counted where they happen (multiprocess-safe under gunicorn when
PROMETHEUS_MULTIPROC_DIR is set); job, token, dollar and latency figures are read from
the ledger at scrape time, so every server and worker machine reports the same totals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class LedgerCollector:
    """Figures read from the ledger when Prometheus scrapes."""

    def __init__(self, read: Callable[[], dict[str, Any]], *, per_repo: bool) -> None:
        self._read = read
        self._per_repo = per_repo

    def collect(self) -> Iterator[Any]:
        """Yield the ledger's metric families."""
        stats = self._read()
        jobs = GaugeMetricFamily("mistral_review_jobs", "Jobs in the ledger by state", labels=["state"])
        for state, count in sorted(stats["jobs"].items()):
            jobs.add_metric([state], count)
        yield jobs
        tokens = CounterMetricFamily("mistral_review_tokens", "Tokens billed", labels=["kind"])
        tokens.add_metric(["input"], stats["prompt_tokens"])
        tokens.add_metric(["output"], stats["completion_tokens"])
        yield tokens
        dollars = CounterMetricFamily("mistral_review_cost_usd", "Dollars spent on reviews")
        dollars.add_metric([], stats["cost_usd"])
        yield dollars
        latency = HistogramMetricFamily("mistral_review_review_seconds", "Time from job start to review done")
        buckets = [(str(b), sum(1 for x in stats["latencies"] if x <= b)) for b in LATENCY_BUCKETS]
        latency.add_metric([], buckets + [("+Inf", len(stats["latencies"]))], sum(stats["latencies"]))
        yield latency
        ratio = GaugeMetricFamily("mistral_review_budget_used_ratio", "Monthly budget used (0..1+)",
                                  labels=["scope", "key"])
        for (scope, key), value in sorted(stats.get("budget_ratios", {}).items()):
            ratio.add_metric([scope, key if self._per_repo or scope == "installation" else "*"], value)
        yield ratio
        if self._per_repo:
            repo_cost = CounterMetricFamily("mistral_review_repo_cost_usd", "Dollars per repository", labels=["repo"])
            for repo, cost in sorted(stats["per_repo_cost"].items()):
                repo_cost.add_metric([repo], cost)
            yield repo_cost


class Metrics:
    """The server's registry."""

    def __init__(self, read_ledger: Callable[[], dict[str, Any]], *, per_repo: bool = False) -> None:
        self.registry = CollectorRegistry()
        shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if shared:  # values live in files that every gunicorn worker writes and the collector sums
            MultiProcessCollector(self.registry)
        self._webhooks = Counter("mistral_review_webhooks", "Webhook deliveries", ["event", "outcome"],
                                 registry=None if shared else self.registry)
        self.registry.register(LedgerCollector(read_ledger, per_repo=per_repo))

    def webhook(self, event: str, outcome: str) -> None:
        """Count one delivery."""
        self._webhooks.labels(event=event or "unknown", outcome=outcome).inc()

    def render(self) -> tuple[bytes, str]:
        """Return the exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
