"""What both hosts' webhooks share once a delivery is parsed: a `/review` author's access check, then the intake
(the ledger records the job unless it is a duplicate, the queue gets its id). Nothing is recorded before the checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.server.body import Answer
from bot.server.ledger import Ledger, NewJob

log = logging.getLogger("mistral_review.server")


class Queue(Protocol):
    """What the app needs of the job queue."""

    def enqueue(self, job_id: str) -> None: ...
    def ping(self) -> None: ...


@dataclass(frozen=True)
class Intake:
    """The ledger and the queue behind the webhooks, and the clock their rows are stamped with."""

    ledger: Ledger
    queue: Queue
    clock: Callable[[], float]

    def record(self, new: NewJob) -> dict[str, Any]:
        """Record the delivery and its job unless either is a duplicate, then enqueue it; return the answer's body."""
        result = self.ledger.accept(new, now=self.clock())
        if result.job_id is None or result.duplicate:
            return {"status": "duplicate", "of": result.duplicate or "delivery", "job": result.job_id}
        try:
            self.queue.enqueue(result.job_id)
        except Exception:  # the reaper re-enqueues jobs whose enqueue was lost
            log.exception("enqueue failed; the reaper will pick the job up")
        return {"status": "queued", "job": result.job_id}

    def cancel_pull(self, repo: str, number: int, *, host: str = "github") -> dict[str, Any]:
        """Drop the queued jobs of a closed pull or merge request; return the answer's body."""
        return {"status": "cancelled", "jobs": self.ledger.cancel_pr(repo, number, host=host, now=self.clock())}

    def cancel_installation(self, installation_id: int) -> dict[str, Any]:
        """Drop the queued jobs of an uninstalled GitHub App installation; return the answer's body."""
        return {"status": "cancelled", "jobs": self.ledger.cancel_installation(installation_id, now=self.clock())}


def refusal(check: Callable[[], str | None], *, host: str, status: int, who: str) -> Answer | None:
    """Run a `/review` author's access check: None when they may ask, else the `ignored` answer with the reason.

    Fail closed: a check that cannot be made (the host unreachable, an error) refuses too, never a 5xx.
    """
    try:
        reason = check()
    except Exception as exc:  # noqa: BLE001 - unverifiable is refused, whatever went wrong
        log.warning("could not check %s's permission: %s", who, exc)
        return status, {"status": "ignored",
                        "reason": f"could not check the commenter's permission on {host}; /review ignored (comment again)"}
    return None if reason is None else (status, {"status": "ignored", "reason": reason})
