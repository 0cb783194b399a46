"""The ledger's records as plain values (no database here), shared by the ledger, worker and reports.

`host` is "github" or "gitlab"; `repo` is the repository's full name or the GitLab project's path, and
`pr_number` the pull request number or the merge request iid. GitLab jobs also carry the numeric project id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NewJob:
    """A webhook delivery that asks for a review of one PR head."""

    delivery_id: str
    event: str
    repo: str
    pr_number: int
    head_sha: str
    installation_id: int | None
    rereview: bool = False  # review the head again even if it was reviewed (a base change, or a /review)
    commenter: str = ""
    comment_id: int | None = None
    host: str = "github"
    project_id: int | None = None


@dataclass(frozen=True)
class AcceptResult:
    """The new job's id, or why none was made ("delivery" or "head") and the job that already covers it."""

    job_id: str | None
    duplicate: str | None


@dataclass(frozen=True)
class Job:
    """A review job as the ledger holds it."""

    id: str
    delivery_id: str
    event: str
    repo: str
    pr_number: int
    head_sha: str
    installation_id: int | None
    rereview: bool  # the ledger's `forced` column
    state: str
    attempts: int
    worker: str | None
    lease_until: float | None
    created_at: float
    detail: str = ""
    commenter: str = ""
    comment_id: int | None = None
    host: str = "github"
    project_id: int | None = None


@dataclass(frozen=True)
class ReviewRow:
    """One finished review: what it looked at, what it cost and how it ended."""

    repo: str
    pr_number: int
    pr_url: str
    head_sha: str
    changed_lines: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    estimated: bool
    started_at: float
    finished_at: float
    outcome: str
    job_id: str | None = None
    installation_id: int | None = None
    model: str = ""
    host: str = "github"


@dataclass(frozen=True)
class CallRow:
    """One paid model call, booked the moment it returned (before anything was posted)."""

    job_id: str | None
    attempt: int
    repo: str
    pr_number: int
    installation_id: int | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    estimated: bool
    created_at: float
    review_id: int | None = None
    host: str = "github"
