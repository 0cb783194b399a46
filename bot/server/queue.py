"""The job queue adapter: the only module that imports Huey.

SqliteHuey in the data dir on one machine; RedisHuey when REDIS_URL is set, with
workers on any number of machines. Jobs carry a ledger job id and nothing else.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.storage import SqliteStorage

log = logging.getLogger(__name__)


class _QueueStorage(SqliteStorage):  # type: ignore[misc]
    """Huey's SQLite store with commits that wait for no disk flush (synchronous=NORMAL under WAL).

    A queue entry needs no durability of its own: the job is durable in the ledger, and the reaper re-enqueues
    a queued job whose entry was lost. So the acknowledgement pays for one flush (the ledger's), not two; WAL
    with NORMAL keeps the file consistent through a power loss, losing at most the newest entries.
    """

    def _create_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._create_connection()
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn


class JobQueue:
    """Enqueue ledger job ids; run a handler for each in a consumer."""

    def __init__(self, huey: Huey) -> None:
        self._huey = huey
        self._handler: Callable[[str], None] | None = None
        self._task = huey.task(name="review_job")(self._run)

    @classmethod
    def open(cls, *, data_dir: Path, redis_url: str | None = None) -> JobQueue:
        """Open the queue: Redis when a URL is given, else SQLite in the data dir."""
        if redis_url:
            return cls(RedisHuey("mistral-review", url=redis_url, results=False))
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(SqliteHuey("mistral-review", filename=str(data_dir / "queue.db"), results=False,
                              storage_class=_QueueStorage))

    def _run(self, job_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("no job handler registered in this process")
        self._handler(job_id)

    def enqueue(self, job_id: str) -> None:
        """Put one job id on the queue."""
        self._task(job_id)

    def ping(self) -> None:
        """Raise when the queue's store cannot be reached."""
        self._huey.pending_count()

    def consume(self, handler: Callable[[str], None], *, workers: int = 1) -> None:
        """Run jobs with `handler` until the process is told to stop (SIGINT/SIGTERM)."""
        self._handler = handler
        consumer = self._huey.create_consumer(workers=workers, worker_type="thread", periodic=False,
                                              initial_delay=0.05, max_delay=0.5, backoff=1.15)
        consumer.run()
