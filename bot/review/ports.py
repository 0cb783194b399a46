"""The review flow's ports: what it needs from a Git host and a model, and the plain data they exchange."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from bot.core.batching import Skipped
from bot.core.changes import ListedFile
from bot.core.coverage import Coverage
from bot.core.marker import Marker
from bot.core.reply import Comment
from bot.core.spend import Usage
from bot.core.summary import GITHUB, GITHUB_BUDGET_HINT, Overview


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
    noun: str = "pull request"  # what the host calls it, for the text the bot posts ("merge request" on GitLab)
    host_name: str = GITHUB  # the host's name, for the text the bot posts
    budget_hint: str = GITHUB_BUDGET_HINT  # where else this host's runs set a budget
    link_base: str = ""  # the repository's web address on its host: the only place the bot's text links to


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
    files: list[ListedFile] = field(default_factory=list)
    merge_base: str | None = None
    complete: bool = True  # False: more files differ than the host listed, and which ones is unknown


@dataclass(frozen=True)
class PostedReview:
    """A review that landed on the host (its id, 0 where the host has none, and its web address)."""

    id: int
    html_url: str


class PullPort(Protocol):
    """What the review needs of one pull or merge request, in its own terms; every host implements all of it
    (bot.hosts.github.client.PullRequestHandle, bot.hosts.gitlab.merge_request.MergeRequestHandle)."""

    def info(self) -> PullInfo: ...
    def files(self) -> tuple[list[ListedFile], bool]: ...
    def file_text(self, path: str, ref: str, *, max_bytes: int | None = None) -> bytes | None:
        """Return a file's bytes at a ref (None when absent); raise TooLarge over `max_bytes`, unfetched."""
    def compare(self, base: str, head: str) -> Comparison | None: ...
    def review_comments(self) -> list[PostedComment]: ...
    def issue_comments(self) -> list[PostedComment]: ...
    def post_review(self, head_sha: str, comments: Sequence[Comment], overview: Overview) -> tuple[PostedReview, list[Comment]]: ...
    def upsert_comment(self, comment_id: int | None, body: str) -> int: ...
    @property
    def web_url(self) -> str:
        """Return the pull or merge request's web address ("" while the host has not said it)."""
    def may_request_review(self, user: str) -> bool:
        """Tell whether `user` (a login, or GitLab's numeric user id) may ask for a review with `/review`."""
    def acknowledge(self, comment_id: int) -> None:
        """Mark a `/review` comment as seen (👀)."""


@dataclass(frozen=True)
class Outcome:
    """What a PR run did, for the Action's outputs, the server's ledger and the CLI."""

    status: str  # reviewed, no-findings, up-to-date, skipped, superseded, budget-exhausted
    reason: str = ""
    comments: tuple[Comment, ...] = ()
    unplaced: tuple[Comment, ...] = ()
    usage: Usage = field(default_factory=Usage)
    marker: Marker = field(default_factory=Marker)
    review_url: str = ""
    head_sha: str = ""
    skipped: tuple[Skipped, ...] = ()
    failed_batches: int = 0
    changed_lines: int = 0
    budget_usd: float = 0.0
    coverage: Coverage | None = None  # None when no review was attempted (skipped, up to date, superseded)
    model: str = ""  # the model actually used (a repo file's, when allowed), for the ledger

    @property
    def posted(self) -> tuple[Comment, ...]:
        """Return every comment that reached the PR, inline or in the review body."""
        return self.comments + self.unplaced


@dataclass(frozen=True)
class ReviewRequest:
    """How this run was asked for."""

    explicit: bool = False  # the user explicitly asked (/review): the current head again, past bot and label opt-outs
    rereview: bool = False  # review the current head again (its base changed), keeping every opt-out
    review_drafts: bool = False
    run_id: str = "run"
    overrides: Mapping[str, Any] = field(default_factory=dict)  # Action inputs or CLI flags
    budget_cap_usd: float | None = None  # the operator's per-PR ceiling, above any repo file
    gates: Sequence[BudgetGate] = ()  # the server's monthly budgets
    ledger_totals: tuple[int, int, float] | None = None  # the server's own record of this PR's spend
    notes: Sequence[str] = ()  # operator notices for the summary (budget alerts)
    expected_head: str | None = None  # the head a queued job was for: a newer one supersedes it
    marker_key: bytes = field(default=b"", repr=False)  # signs the summary marker and fingerprints (bot.core.marker)
    progress: ProgressMaker | None = field(default=None, repr=False)  # batches done and a heartbeat, on a log


class ProgressShown(Protocol):
    """A progress report while the model works (bot.review.progress.Progress)."""

    def __enter__(self) -> ProgressShown: ...
    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def update(self, done: int, total: int) -> None: ...


ProgressMaker = Callable[[int], ProgressShown]  # given the number of batches


class Completion(Protocol):
    """What a model adapter returns (see bot.llm.mistral.Completion)."""

    @property
    def content(self) -> str: ...
    @property
    def prompt_tokens(self) -> int | None: ...
    @property
    def completion_tokens(self) -> int | None: ...
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def lost_attempts(self) -> int: ...


class Model(Protocol):
    """Anything that answers a system + user prompt with JSON text."""

    def complete(self, system: str, user: str, *, max_tokens: int, schema: dict[str, Any],
                 timeout_s: float | None = None) -> Completion:
        """Return one reply; `timeout_s` is the read timeout that fits this request."""


@dataclass(frozen=True)
class Call:
    """One model call as budget gates see it: its worst case before, its usage after (None: nothing was paid)."""

    reserved: float
    model: str
    budget_usd: float  # the PR's budget in force for this run
    usage: Usage | None = None


class BudgetGate(Protocol):
    """Something that must agree before a model call is made, and hears what each call cost."""

    def reserve(self, call: Call) -> bool:
        """Hold `call.reserved` dollars; False when it does not fit."""

    def settle(self, call: Call) -> None:
        """Turn a hold into what was really spent (called the moment the call returns, or fails)."""
