"""A ledger job's pull or merge request, opened on its host for the review flow (GitHub or GitLab)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.errors import ReviewError
from bot.hosts.gitlab.merge_request import MergeRequestHandle
from bot.review.ports import PullPort
from bot.server.clients import Clients
from bot.server.records import Job

log = logging.getLogger("mistral_review.worker")


@dataclass(frozen=True)
class Opened:
    """A job's pull or merge request, ready for the review flow, and who the bot is there."""

    pull: PullPort
    identity: str


@dataclass(frozen=True)
class Ended:
    """A job that needs no review run: its final state and why."""

    state: str
    detail: str


def open_job(clients: Clients, job: Job) -> Opened | Ended:
    """Open the job's pull or merge request; acknowledge a `/review` (👀), or end a job with nothing to do.

    A `/review` author's access was checked by the webhook before the job was recorded, on both hosts.
    """
    if job.host == "gitlab":
        return _open_gitlab(clients, job)
    client = clients.for_installation(job.installation_id)
    pr = client.pull(job.repo, job.pr_number)
    _acknowledge(pr, job.comment_id)
    if job.attempts > 1 and pr.find_review(job.id) is not None:
        return Ended("done", "review already posted by an earlier attempt")
    return Opened(pr, client.identity())


def _open_gitlab(clients: Clients, job: Job) -> Opened:
    """GitLab: a retried attempt needs no look for its review: the posting step finds its own drafts and discussions."""
    client = clients.gitlab()
    mr = MergeRequestHandle(client, job.project_id if job.project_id is not None else job.repo, job.pr_number)
    _acknowledge(mr, job.comment_id)
    return Opened(mr, client.identity())


def _acknowledge(pull: PullPort, comment_id: int | None) -> None:
    """Put 👀 on a `/review` comment or note: a courtesy, never a reason to fail the review (a failure is logged)."""
    if comment_id is None:
        return
    try:
        pull.acknowledge(comment_id)
    except ReviewError as exc:
        log.warning("could not react to /review comment %s: %s", comment_id, exc)

