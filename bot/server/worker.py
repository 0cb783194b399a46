"""The job worker: claim a ledger job, review its PR once, record what it cost.

A job is claimed with a fenced lease (an attempt number) that a background thread renews; a
worker that dies (kill -9) stops renewing, the lease runs out, and the reaper of any worker
re-enqueues the job. A worker that loses its lease stops before its next model call or post.
The retry is safe because a review carries its job id: if it landed, it is not posted again.
Each model call is booked in the ledger the moment it returns, whatever happens next.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from bot.core.errors import ReviewError
from bot.core.marker import derive_key
from bot.core.settings import Settings
from bot.llm.mistral import model_from_settings
from bot.llm.tokens import default_counter
from bot.review.ports import Call, Outcome, ReviewRequest
from bot.review.prompting import load_prompts
from bot.review.pull_flow import review_pull
from bot.server.clients import Clients
from bot.server.hostjobs import Ended, open_job
from bot.server.ledger import Job, Ledger, ReviewRow
from bot.server.ledger.schema import month_of, scopes
from bot.server.logs import delivery_id
from bot.server.queue import JobQueue
from bot.server.settings import ServerSettings

log = logging.getLogger("mistral_review.worker")
ALERT_LEVELS = (1.0, 0.8)


class LeaseLost(ReviewError):
    """Another attempt holds the job now: this one must stop."""


def open_ledger(settings: ServerSettings) -> Ledger:
    """Open (and migrate) the ledger with the operator's budgets: PostgreSQL when DATABASE_URL is set, else SQLite."""
    budgets = {(scope, key): dollars for scope, key, dollars in settings.monthly_budgets}
    ledger = (Ledger(settings.database_url, budgets=budgets) if settings.database_url
              else Ledger.for_data_dir(settings.data_dir, budgets=budgets))
    ledger.migrate()
    return ledger


class LedgerBudget:
    """The monthly and per-PR budgets as a gate on each model call (atomic across workers), fenced by the lease.

    A call is held and booked in the month it starts in. Its reserve and settle run on the same thread (the
    engine's batch worker), so the start is kept per thread while batches run side by side.
    """

    def __init__(self, ledger: Ledger, job: Job, lost: threading.Event, clock: Callable[[], float]) -> None:
        self._ledger, self._job, self._lost, self._clock = ledger, job, lost, clock
        self._call = threading.local()

    def reserve(self, call: Call) -> bool:
        """Hold the call's worst case in its month's repo and installation budgets and the PR's."""
        if self._lost.is_set():
            raise LeaseLost("the job's lease was lost; stopping before the next model call")
        self._call.started_at = self._clock()
        if self._ledger.reserve(self._job, started_at=self._call.started_at, amount=call.reserved,
                                pr_cap=call.budget_usd):
            return True
        if not self._ledger.holds(self._job):
            raise LeaseLost("the job's lease was lost; stopping before the next model call")
        return False

    def settle(self, call: Call) -> None:
        """Book the call (paid whatever happens next) and replace the hold with what it cost."""
        started_at = getattr(self._call, "started_at", None)
        mine = self._ledger.settle(self._job, started_at=self._clock() if started_at is None else started_at,
                                   reserved=call.reserved, usage=call.usage, model=call.model)
        if not mine or self._lost.is_set():
            raise LeaseLost("the job's lease was lost; its reply is booked but not posted")


def budget_alerts(ledger: Ledger, job: Job, month: str) -> list[str]:
    """Return notices for monthly budgets that have crossed 80% or 100%."""
    notes = []
    for scope, key in scopes(job.host, job.repo, job.installation_id):
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
                 enqueue: Callable[[str], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings, self.review_settings, self.ledger, self.clock = settings, review_settings, ledger, clock
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._enqueue = enqueue
        self._clients = Clients(settings)

    def handle(self, job_id: str) -> None:
        """Claim and run one job; a job someone else holds (or whose PR is busy) is left alone."""
        job = self.ledger.claim(job_id, worker=self.name, lease_s=self.settings.lease_s, now=self.clock())
        if job is None:
            return
        delivery_id.set(job.delivery_id)
        stop, lost = threading.Event(), threading.Event()
        renewer = threading.Thread(target=self._renew, args=(job, stop, lost), daemon=True)
        renewer.start()
        try:
            state, detail = self._run(job, lost)
        except ReviewError as exc:
            state, detail = "failed", str(exc)
        except Exception as exc:  # a job must end in the ledger whatever broke
            log.exception("job %s crashed", job.id)
            state, detail = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            stop.set()
            renewer.join()
        waiting = self.ledger.finish(job.id, job.attempts, state=state, detail=detail[:500], now=self.clock())
        if waiting is None:
            log.warning("job %s attempt %d lost its lease; another attempt owns it", job.id, job.attempts)
            return
        log.info("job %s %s: %s", job.id, state, detail)
        for next_id in waiting:  # the PR is free: its queued jobs may run now
            self._queue(next_id)

    def _queue(self, job_id: str) -> None:
        if self._enqueue is None:
            return  # the reaper picks it up after the grace period
        try:
            self._enqueue(job_id)
        except Exception:  # the reaper re-enqueues jobs whose enqueue was lost
            log.exception("enqueue of job %s failed; the reaper will pick it up", job_id)

    def _renew(self, job: Job, stop: threading.Event, lost: threading.Event) -> None:
        """Renew the lease until stopped; a database hiccup is retried, a lost lease stops the job."""
        last_ok = self.clock()
        while not stop.wait(self.settings.lease_s / 3):
            try:
                if not self.ledger.renew(job.id, job.attempts, lease_s=self.settings.lease_s, now=self.clock()):
                    lost.set()
                    return
                last_ok = self.clock()
            except Exception:  # transient: try again until the lease would have run out
                log.warning("renewing job %s failed; retrying", job.id, exc_info=True)
                if self.clock() - last_ok >= self.settings.lease_s:
                    lost.set()
                    return

    def _run(self, job: Job, lost: threading.Event) -> tuple[str, str]:
        opened = open_job(self._clients, job)
        if isinstance(opened, Ended):
            return opened.state, opened.detail
        started = self.clock()
        month = month_of(started)
        request = ReviewRequest(explicit=job.comment_id is not None, rereview=job.rereview,
                                review_drafts=self.settings.review_drafts, run_id=job.id,
                                expected_head=None if job.comment_id is not None else job.head_sha,
                                budget_cap_usd=self.settings.pr_budget_cap_usd,
                                gates=(LedgerBudget(self.ledger, job, lost, self.clock),),
                                ledger_totals=self.ledger.pr_totals(job.repo, job.pr_number, host=job.host),
                                notes=budget_alerts(self.ledger, job, month),
                                marker_key=derive_key(self.settings.webhook_secret or self.review_settings.api_key or ""))
        outcome = review_pull(opened.pull, identity=opened.identity, base_settings=self.review_settings,
                              model_for=model_from_settings, counter=default_counter(), prompts=load_prompts(),
                              request=request)
        return self._conclude(job, outcome, started, opened.pull.web_url)

    def _conclude(self, job: Job, outcome: Outcome, started: float, url: str) -> tuple[str, str]:
        if outcome.status == "superseded":
            newer = self.ledger.supersede(job, outcome.head_sha, now=self.clock())
            if newer is not None:
                self._queue(newer)
            return "dropped", f"superseded: {outcome.reason}"
        cover = outcome.coverage
        if cover is not None and cover.failed and not cover.answered:
            return "failed", f"review failed: all {len(cover.failed)} model call(s) failed; /review retries it"
        if outcome.status not in ("skipped", "up-to-date"):
            u = outcome.usage
            self.ledger.record_review(ReviewRow(
                job.repo, job.pr_number, url, outcome.head_sha, outcome.changed_lines, u.prompt_tokens,
                u.completion_tokens, u.cost_usd, u.estimated, started, self.clock(), outcome.status, job.id,
                job.installation_id, outcome.model or self.review_settings.model, job.host))
        return "done", f"{outcome.status}: {len(outcome.posted)} comment(s), ${outcome.usage.cost_usd:.4f}"


def reap_forever(ledger: Ledger, queue: JobQueue, settings: ServerSettings, stop: threading.Event,
                 clock: Callable[[], float] = time.time) -> None:
    """Re-enqueue, once each, jobs whose lease ran out or whose enqueue was lost, until stopped."""
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
    worker = Worker(settings, review_settings, ledger=ledger, enqueue=queue.enqueue)
    stop = threading.Event()
    reaper = threading.Thread(target=reap_forever, args=(ledger, queue, settings, stop), daemon=True)
    reaper.start()
    log.info("worker %s started (%s queue, %s ledger)", worker.name, "redis" if settings.redis_url else "sqlite",
             "postgresql" if settings.database_url else "sqlite")
    try:
        queue.consume(worker.handle, workers=threads)
    finally:
        stop.set()
