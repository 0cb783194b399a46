"""The project's own error types, shared by the core and the adapters.

    ReviewError            anything that stops a review with a one-line message
    ├── UsageError         bad flags, settings or input (exit code 2)
    └── ModelError         a model call failed after its retries
"""

from __future__ import annotations


class ReviewError(Exception):
    """Something stopped a review; the message is one line for the user."""


class UsageError(ReviewError):
    """Bad usage, configuration or input."""


class ModelError(ReviewError):
    """A model call failed for good; `attempts` says how hard we tried, `lost_attempts` how many timed
    out after they were sent (the server may have billed those)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1, lost_attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.lost_attempts = lost_attempts


class AnchorRejected(ReviewError):
    """GitHub refused a review because a comment's line or path is not in its diff."""
