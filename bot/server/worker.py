"""The job worker: claim a ledger job, review its PR once, record what it cost.

A job is claimed with a lease that a background thread renews; a worker that dies
(kill -9) stops renewing, the lease runs out, and the reaper of any worker re-enqueues
the job. The retry is safe because a review carries its job id: if it landed, it is
not posted again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from bot.core.errors import ReviewError
from bot.core.marker import derive_key
from bot.core.settings import Settings
from bot.hosts.github.app import AppClients
from bot.hosts.github.client import GitHubClient
from bot.hosts.github.events import WRITE_PERMISSIONS
from bot.llm.mistral import model_from_settings
from bot.llm.tokens import default_counter
from bot.review.ports import ReviewRequest
from bot.review.prompting import load_prompts
from bot.review.pull_flow import review_pull
from bot.server.ledger import Job, Ledger, ReviewRow
from bot.server.logs import delivery_id
from bot.server.queue import JobQueue
from bot.server.settings import ServerSettings

log = logging.getLogger("mistral_review.worker")
ALERT_LEVELS = (1.0, 0.8)


def month_of(epoch: float) -> str:
    """Return the UTC month (YYYY-MM) of a time."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m")


def open_ledger(settings: ServerSettings) -> Ledger:
    """Open (and migrate) the ledger: PostgreSQL when DATABASE_URL is set, else SQLite in the data dir."""
    ledger = Ledger(settings.database_url) if settings.database_url else Ledger.for_data_dir(settings.data_dir)
    ledger.migrate()
    for scope, key, dollars in settings.monthly_budgets:
        ledger.set_budget(scope, key, dollars)
    return ledger


class LedgerBudget:
    """The monthly repo and installation budgets as a gate on each model call (atomic across workers)."""

    def __init__(self, ledger: Ledger, job: Job, month: str) -> None:
        self._ledger, self._job, self._month = ledger, job, month

    def reserve(self, amount: float) -> bool:
        """Hold `amount` in this month's repo and installation budgets."""
        return self._ledger.reserve(repo=self._job.repo, installation_id=self._job.installation_id,
                                    month=self._month, amount=amount, job_id=self._job.id)

    def settle(self, reserved: float, spent: float) -> None:
        """Replace the hold with what was spent."""
        self._ledger.settle(repo=self._job.repo, installation_id=self._job.installation_id, month=self._month,
                            reserved=reserved, spent=spent, job_id=self._job.id)


def budget_alerts(ledger: Ledger, job: Job, month: str) -> list[str]:
    """Return notices for monthly budgets that have crossed 80% or 100%."""
    notes = []
    scopes = [("repo", job.repo)] + ([("installation", str(job.installation_id))] if job.installation_id else [])
    for scope, key in scopes:
        spent, limit = ledger.month_spend(scope, key, month)
        if not limit:
            continue
        used = spent / limit
        level = next((lv for lv in ALERT_LEVELS if used >= lv), None)
        if level is not None:
            notes.append(f"Monthly budget alert: this {scope} has used {used:.0%} of its ${limit:.2f} for {month}"
                         + (" and will not be reviewed again this month." if level >= 1.0 else "."))
    return notes


class Worker:
    """Runs review jobs for this machine."""

    def __init__(self, settings: ServerSettings, review_settings: Settings, *, ledger: Ledger,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.review_settings, self.ledger, self.clock = settings, review_settings, ledger, clock
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._apps = (AppClients(app_id=settings.app_id, private_key=settings.app_private_key or "",
                                 base_url=settings.github_api_url, write_interval_s=settings.github_write_interval_s)
                      if settings.app_id else None)
        self._token_client: GitHubClient | None = None

    def _client(self, job: Job) -> GitHubClient:
        if self._apps is not None and job.installation_id is not None:
            return self._apps.for_installation(job.installation_id)
        if self._token_client is None:
            self._token_client = GitHubClient(token=self.settings.github_token, base_url=self.settings.github_api_url,
                                              write_interval_s=self.settings.github_write_interval_s)
        return self._token_client

    def handle(self, job_id: str) -> None:
        """Claim and run one job; a job someone else holds is left alone."""
        job = self.ledger.claim(job_id, worker=self.name, lease_s=self.settings.lease_s, now=self.clock())
        if job is None:
            return
        delivery_id.set(job.delivery_id)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(job, stop), daemon=True)
        renewer.start()
        try:
            state, detail = self._run(job)
        except ReviewError as exc:
            state, detail = "failed", str(exc)
        except Exception as exc:  # a job must end in the ledger whatever broke
            log.exception("job %s crashed", job.id)
            state, detail = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            stop.set()
            renewer.join()
        self.ledger.finish(job.id, state=state, detail=detail[:500], now=self.clock())
        log.info("job %s %s: %s", job.id, state, detail)

    def _renew(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.settings.lease_s / 3):
            self.ledger.renew(job.id, worker=self.name, lease_s=self.settings.lease_s, now=self.clock())

    def _run(self, job: Job) -> tuple[str, str]:
        if self.ledger.newer_job_exists(job):
            return "dropped", "superseded by a newer job for this pull request"
        client = self._client(job)
        pr = client.pull(job.repo, job.pr_number)
        if job.comment_id is not None:
            if pr.permission(job.commenter) not in WRITE_PERMISSIONS:
                return "dropped", f"{job.commenter} has no write access; /review ignored"
            try:  # the 👀 is a courtesy: a refused reaction must not cost the review
                pr.react(job.comment_id, "eyes")
            except ReviewError as exc:
                log.warning("job %s: could not react to comment %s: %s", job.id, job.comment_id, exc)
        if job.attempts > 1 and pr.find_review(job.id) is not None:
            return "done", "review already posted by an earlier attempt"
        started = self.clock()
        month = month_of(started)
        request = ReviewRequest(force=job.comment_id is not None, rereview=job.forced,
                          review_drafts=self.settings.review_drafts, run_id=job.id,
                          expected_head=None if job.comment_id is not None else job.head_sha,
                          budget_cap_usd=self.settings.pr_budget_cap_usd,
                          gates=(LedgerBudget(self.ledger, job, month),),
                          ledger_totals=self.ledger.pr_totals(job.repo, job.pr_number),
                          notes=budget_alerts(self.ledger, job, month),
                          marker_key=derive_key(self.settings.webhook_secret or self.review_settings.api_key or ""))
        outcome = review_pull(pr, identity=client.identity(), base_settings=self.review_settings,
                              model_for=model_from_settings, counter=default_counter(), prompts=load_prompts(),
                              request=request)
        if outcome.status == "superseded":
            return "dropped", f"superseded: {outcome.reason}"
        if outcome.status not in ("skipped", "up-to-date"):
            u = outcome.usage
            self.ledger.record_review(ReviewRow(
                job.repo, job.pr_number, f"https://github.com/{job.repo}/pull/{job.pr_number}", outcome.head_sha,
                outcome.changed_lines, u.prompt_tokens, u.completion_tokens, u.cost_usd, u.estimated, started,
                self.clock(), outcome.status, job.id, job.installation_id, outcome.model or self.review_settings.model))
        return "done", f"{outcome.status}: {len(outcome.posted)} comment(s), ${outcome.usage.cost_usd:.4f}"


def reap_forever(ledger: Ledger, queue: JobQueue, settings: ServerSettings, stop: threading.Event,
                 clock: Callable[[], float] = time.time) -> None:
    """Re-enqueue jobs whose lease ran out or whose enqueue was lost, until stopped."""
    while not stop.wait(settings.reap_every_s):
        try:
            for job_id in ledger.expired(now=clock(), queued_grace_s=settings.queued_grace_s):
                queue.enqueue(job_id)
                log.warning("re-enqueued job %s (lease ran out or enqueue lost)", job_id)
        except Exception:  # the reaper must outlive a database hiccup
            log.exception("reaper pass failed")


def run_worker(settings: ServerSettings, review_settings: Settings, *, threads: int = 1) -> None:
    """Run a worker with its reaper until SIGINT or SIGTERM."""
    ledger = open_ledger(settings)
    queue = JobQueue.open(data_dir=settings.data_dir, redis_url=settings.redis_url)
    worker = Worker(settings, review_settings, ledger=ledger)
    stop = threading.Event()
    reaper = threading.Thread(target=reap_forever, args=(ledger, queue, settings, stop), daemon=True)
    reaper.start()
    log.info("worker %s started (%s queue, %s ledger)", worker.name, "redis" if settings.redis_url else "sqlite",
             "postgresql" if settings.database_url else "sqlite")
    try:
        queue.consume(worker.handle, workers=threads)
    finally:
        stop.set()
