"""Plain data about a pull request, as the GitHub adapter hands it to the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What GitHub's collaborator-permission answer says for users who may ask for a /review.
WRITE_PERMISSIONS = frozenset({"admin", "write"})


@dataclass(frozen=True)
class PullInfo:
    """What the review needs to know about a pull request."""

    repo: str
    number: int
    title: str
    body: str
    base_ref: str
    base_sha: str
    head_sha: str
    author: str
    author_is_bot: bool
    draft: bool
    state: str
    html_url: str
    labels: tuple[str, ...] = ()
    head_repo: str | None = None


@dataclass(frozen=True)
class PostedComment:
    """A comment already on the PR (review comment or issue comment)."""

    id: int
    author: str
    body: str
    path: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Comparison:
    """The compare of two commits: how they relate and the files that differ."""

    status: str  # ahead, behind, diverged, identical
    files: list[dict[str, Any]] = field(default_factory=list)
    merge_base: str | None = None


@dataclass(frozen=True)
class PostedReview:
    """A review that landed on GitHub."""

    id: int
    html_url: str
