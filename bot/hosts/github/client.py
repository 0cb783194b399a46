"""The GitHub adapter: the only module that imports PyGithub.

Reads a pull request, its files, comments and reviews; posts one review and edits the
summary comment. Network errors and rate limits are retried by bot/retry.py (PyGithub's
own retries are off, so only one layer retries); everything else becomes GitHubError.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from bot.core.changes import ListedFile
from bot.core.errors import AnchorRejected, UsageError
from bot.core.links import link_base
from bot.core.reply import Comment
from bot.core.sizecaps import TooLarge
from bot.core.summary import Overview, run_id_in
from bot.hosts.github.errors import GitHubError, error_messages, retry_hint, retryable
from bot.hosts.github.events import WRITE_PERMISSIONS
from bot.hosts.github.files import listed_file
from bot.hosts.github.posting import post_review
from bot.hosts.github.trees import tree_blobs
from bot.hosts.github.urls import pull_web_url, web_url
from bot.retry import RetryPolicy, checking_first, retrying
from bot.review.ports import Comparison, PostedComment, PostedReview, PullInfo

T = TypeVar("T")
MAX_LISTED_FILES = 3000
MAX_COMPARE_FILES = 300  # GitHub's compare lists no more, whatever the push changed
LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}(?:\[bot\])?")  # `_`: Enterprise Managed Users
VIEWER_QUERY = "query { viewer { login } }"


class GitHubClient:
    """One authenticated connection to GitHub (or GitHub Enterprise, or a test double)."""

    def __init__(self, *, token: str | None = None, auth: Auth.Auth | None = None,
                 base_url: str = "https://api.github.com", identity: str | None = None, bot_login: str | None = None,
                 attempts: int = 5, max_wait_s: float = 60.0, total_s: float = 300.0, write_interval_s: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, wall_clock: Callable[[], float] = time.time) -> None:
        # GitHub asks integrations to space out writes (secondary rate limits); reads need no pause.
        self._gh = Github(auth=auth or Auth.Token(token or ""), base_url=base_url.rstrip("/"), retry=None,
                          lazy=True, per_page=100, timeout=30, seconds_between_requests=0,
                          seconds_between_writes=write_interval_s)
        self._identity, self._bot_login = identity, bot_login
        self.web_url = web_url(base_url)
        self._policy, self._sleep, self._wall_clock = RetryPolicy(attempts, max_wait_s, total_s), sleep, wall_clock

    def call(self, what: str, fn: Callable[[], T], *, landed: Callable[[], T | None] | None = None) -> T:
        """Run one GitHub request with retries; with `landed`, a retry first checks whether the last try took effect.

        Raises GitHubError with what was being done.
        """
        def hint(exc: BaseException | None) -> float | None:
            return retry_hint(exc, self._wall_clock())

        try:
            return retrying(self._policy, retryable=retryable, hint=hint, sleep=self._sleep)(checking_first(fn, landed))
        except GithubException as exc:
            messages = error_messages(exc)
            raise GitHubError(f"GitHub refused to {what}: HTTP {exc.status} {'; '.join(messages)}".strip(),
                              status=exc.status, errors=messages) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise GitHubError(f"could not reach GitHub to {what}: {type(exc).__name__}") from None

    def identity(self) -> str:
        """Return the login the bot posts as: what GitHub says the token is, else the configured bot login.

        A guess would be worse than nothing: a wrong login never finds the bot's own summary, so
        every push would be a full review with repeated findings and no budget. So this fails loudly.
        """
        if self._identity is None:
            found = self._token_login()
            if found and self._bot_login and found != self._bot_login:
                raise UsageError(f"bot_login (MISTRAL_REVIEW_BOT_LOGIN) is {self._bot_login} but this token posts "
                                 f"as {found}: fix it or leave it empty")
            if not (found or self._bot_login):
                raise UsageError("cannot tell which login this token posts as (GitHub refused both /user and "
                                 "the GraphQL viewer): set the bot_login input or MISTRAL_REVIEW_BOT_LOGIN to it, "
                                 "such as my-app[bot] for a GitHub App")
            self._identity = found or self._bot_login
        return str(self._identity)

    def _token_login(self) -> str | None:
        """Ask GitHub whose token this is: /user for people's tokens, GraphQL `viewer` for App installation
        tokens (`ghs_`, the Actions GITHUB_TOKEN included: `github-actions[bot]`), which cannot read /user."""
        try:
            return self.call("read the token's user", lambda: self._gh.get_user().login)
        except GitHubError as exc:
            if exc.status not in (401, 403, 404):
                raise
        try:
            _, data = self.call("read the token's login", lambda: self._gh.requester.graphql_query(VIEWER_QUERY, {}))
        except GitHubError as exc:
            if exc.status not in (400, 401, 403, 404):
                raise
            return None
        login = ((data.get("data") or {}).get("viewer") or {}).get("login")
        return login if isinstance(login, str) and LOGIN.fullmatch(login) else None

    def pull(self, repo: str, number: int) -> PullRequestHandle:
        """Return a handle on one pull request (no request is made yet)."""
        repository = self._gh.get_repo(repo)
        return PullRequestHandle(self, repository, repository.get_pull(number), repo, number)


class PullRequestHandle:
    """The calls the review makes on one pull request."""

    def __init__(self, client: GitHubClient, repository: Repository, pr: PullRequest, repo: str, number: int) -> None:
        self._client, self._repo, self._pr, self._repo_name = client, repository, pr, repo
        self.web_url = pull_web_url(client.web_url, repo, number)  # on the GitHub (or Enterprise) it lives on

    def info(self) -> PullInfo:
        """Read the pull request."""
        raw: dict[str, Any] = self._client.call("read the pull request", lambda: self._fetch_raw())
        head_repo = (raw.get("head") or {}).get("repo") or {}
        return PullInfo(
            repo=self._repo_name, number=int(raw["number"]), title=raw.get("title") or "",
            body=raw.get("body") or "", base_ref=raw["base"]["ref"], base_sha=raw["base"]["sha"],
            head_sha=raw["head"]["sha"], author=(raw.get("user") or {}).get("login", ""),
            author_is_bot=(raw.get("user") or {}).get("type") == "Bot", draft=bool(raw.get("draft")),
            state=raw.get("state", "open"), html_url=raw.get("html_url", ""),
            labels=tuple(lb.get("name", "") for lb in raw.get("labels") or []),
            head_repo=head_repo.get("full_name"), link_base=link_base(self._client.web_url, self._repo_name),
        )

    def _fetch_raw(self) -> dict[str, Any]:
        self._pr.update()
        return dict(self._pr.raw_data)

    def files(self) -> tuple[list[ListedFile], bool]:
        """Return the PR's files (GitHub lists 3,000 at most) and whether the list was cut there."""
        def fetch() -> list[ListedFile]:
            out = []
            for f in self._pr.get_files():
                out.append(listed_file(f.raw_data))
                if len(out) >= MAX_LISTED_FILES:
                    break
            return out

        listed = self._client.call("list the pull request's files", fetch)
        return listed, len(listed) >= MAX_LISTED_FILES

    def file_text(self, path: str, ref: str, *, max_bytes: int | None = None) -> bytes | None:
        """Return a file's bytes at a ref, or None when it does not exist there.

        Raises TooLarge, before the content or blob is fetched, when GitHub reports more than `max_bytes`.
        """
        def fetch() -> bytes | None:
            try:
                content = self._repo.get_contents(path, ref=ref)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise
            if isinstance(content, list):
                return None
            if max_bytes is not None and content.size > max_bytes:
                raise TooLarge(content.size)
            if content.encoding == "base64" and content.content:
                return base64.b64decode(content.content)
            blob = self._repo.get_git_blob(content.sha)  # files over 1 MB come without content
            return base64.b64decode(blob.content)

        return self._client.call(f"read {path} at {ref[:12]}", fetch)

    def compare(self, base: str, head: str) -> Comparison | None:
        """Compare two commits; None when one of them no longer exists.

        GitHub lists at most 300 files; past that, the files it left out are found by comparing the two
        commits' trees and come without a patch (so they are reviewed whole), or `complete` is False.
        """
        def fetch() -> Comparison | None:
            try:
                cmp = self._repo.compare(base, head)
                return Comparison(cmp.status, [listed_file(f.raw_data) for f in cmp.files], cmp.merge_base_commit.sha)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise

        found = self._client.call("compare commits", fetch)
        if found is None or len(found.files) < MAX_COMPARE_FILES:
            return found
        rest = self._unlisted(found.merge_base or base, head, {f.path for f in found.files})
        if rest is None:
            return replace(found, complete=False)
        return replace(found, files=found.files + [listed_file({"filename": p, "status": "modified"}) for p in rest])

    def _unlisted(self, base: str, head: str, listed: set[str]) -> list[str] | None:
        """Return the paths that differ between two commits' trees and are not `listed`; None when unknown."""
        old = self._client.call("read the tree of the last reviewed commit", lambda: tree_blobs(self._repo, base))
        if old is None:
            return None
        new = self._client.call("read the tree of the head commit", lambda: tree_blobs(self._repo, head))
        if new is None:
            return None
        return sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p) and p not in listed)

    def review_comments(self) -> list[PostedComment]:
        """Return the review comments on the PR."""
        return self._client.call("list review comments", lambda: [
            PostedComment(c.id, c.user.login if c.user else "", c.body or "", c.path, c.line)
            for c in self._pr.get_review_comments()])

    def issue_comments(self) -> list[PostedComment]:
        """Return the conversation comments on the PR."""
        return self._client.call("list comments", lambda: [
            PostedComment(c.id, c.user.login if c.user else "", c.body or "") for c in self._pr.get_issue_comments()])

    def create_review(self, head_sha: str, body: str, comments: list[dict[str, Any]], *, pending: bool = False,
                      run_id: str = "") -> PostedReview:
        """Post one review with event COMMENT (or a pending one, to test anchors); never approve.

        A retry first looks for a review carrying this run's id: GitHub may have accepted a
        POST whose answer was lost, and posting again would double the review.
        """
        commit = self._repo.get_commit(head_sha)  # lazy: PyGithub only needs its sha

        def post() -> PostedReview:
            kwargs: dict[str, Any] = {"commit": commit, "body": body, "comments": comments}
            if not pending:
                kwargs["event"] = "COMMENT"
            review = self._pr.create_review(**kwargs)
            return PostedReview(review.id, review.html_url)

        try:
            return self._client.call("post the review", post,
                                     landed=(lambda: self._find(run_id)) if run_id and not pending else None)
        except GitHubError as exc:
            if exc.bad_anchor:
                raise AnchorRejected(str(exc)) from None
            raise

    def _find(self, run_id: str) -> PostedReview | None:
        for review in self._pr.get_reviews():
            if run_id_in(review.body or "") == run_id:
                return PostedReview(review.id, review.html_url)
        return None

    def find_review(self, run_id: str) -> PostedReview | None:
        """Return the review a run posted, if it landed."""
        return self._client.call("list reviews", lambda: self._find(run_id))

    def post_review(self, head_sha: str, comments: Sequence[Comment], overview: Overview) -> tuple[PostedReview, list[Comment]]:
        """Post one review of these comments; those GitHub will not anchor move into its body."""
        return post_review(self, head_sha, comments, overview)

    def delete_pending_review(self, review_id: int) -> None:
        """Delete a pending review made to test anchors."""
        self._client.call("delete a pending review", lambda: self._pr.get_review(review_id).delete())

    def upsert_comment(self, comment_id: int | None, body: str) -> int:
        """Edit the comment with this id, or create one; return its id."""
        if comment_id is None:
            return self._client.call("create the summary comment", lambda: self._pr.create_issue_comment(body).id)

        def edit() -> int:
            comment = self._pr.get_issue_comment(comment_id)
            comment.edit(body)
            return comment_id

        return self._client.call("update the summary comment", edit)

    def may_request_review(self, user: str) -> bool:
        """Tell whether a login has write access to the repository (who may ask for a /review)."""
        return self._client.call("read a collaborator's permission",
                                 lambda: self._repo.get_collaborator_permission(user)) in WRITE_PERMISSIONS

    def acknowledge(self, comment_id: int) -> None:
        """Put 👀 on a PR conversation comment."""
        self._client.call("react to the comment",
                          lambda: self._pr.get_issue_comment(comment_id).create_reaction("eyes"))


def client_from_env(env: Mapping[str, str], *, token: str | None = None, bot_login: str | None = None) -> GitHubClient:
    """Build a client from GITHUB_TOKEN, GITHUB_API_URL (GitHub Enterprise, test doubles) and MISTRAL_REVIEW_BOT_LOGIN."""
    token = token or env.get("GITHUB_TOKEN")
    if not token:
        raise UsageError("GITHUB_TOKEN is not set")
    bot_login = (bot_login or env.get("MISTRAL_REVIEW_BOT_LOGIN") or "").strip() or None
    if bot_login is not None and not LOGIN.fullmatch(bot_login):
        raise UsageError(f"bot_login (MISTRAL_REVIEW_BOT_LOGIN) {bot_login[:60]!r} is not a GitHub login "
                         "(letters, digits, - and _, then [bot] for an App)")
    return GitHubClient(token=token, base_url=env.get("GITHUB_API_URL") or "https://api.github.com",
                        bot_login=bot_login,
                        write_interval_s=float(env.get("MISTRAL_REVIEW_GITHUB_WRITE_INTERVAL_S") or 1.0),
                        max_wait_s=float(env.get("MISTRAL_REVIEW_GITHUB_MAX_WAIT_S") or 60.0))
