"""One merge request as the review flow's `PullPort`: reads, the summary note, and posting as one review."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gitlab.exceptions import GitlabHttpError

from bot.core.changes import ListedFile, Positions
from bot.core.diff import FileStatus
from bot.core.links import link_base
from bot.core.marker import SUMMARY_PREFIX
from bot.core.numbers import ID_DIGITS, bounded_int
from bot.core.reply import Comment
from bot.core.summary import Overview
from bot.hosts.gitlab import posting
from bot.hosts.gitlab.client import GitLabClient, GitLabError, project_ref
from bot.hosts.gitlab.events import is_draft
from bot.hosts.gitlab.positions import no_quick_actions
from bot.review.markdown import unplaced_line
from bot.review.ports import Comparison, PostedComment, PostedReview, PullInfo

STATES = {"opened": "open", "closed": "closed", "merged": "merged", "locked": "locked"}
BOT_USER = re.compile(r"^(project|group)_\d+_bot(_|$)")
REFS_TRIES = 6
UNPLACED_START, UNPLACED_END = "<!-- mistral-review:gitlab-unplaced -->", "<!-- /mistral-review:gitlab-unplaced -->"
MAX_UNPLACED = 60
BINARY = re.compile(r"^Binary files .* differ\s*$")


def listed_file(entry: Mapping[str, Any]) -> ListedFile:
    """Map a GitLab /diffs (or compare) entry: its `diff` is the file's hunks, "" when binary, a pure
    rename or mode change, or left out for size (`too_large`, `collapsed`: the flow then diffs the blobs)."""
    diff = str(entry.get("diff") or "")
    status = (FileStatus.ADDED if entry.get("new_file") else FileStatus.REMOVED if entry.get("deleted_file")
              else FileStatus.RENAMED if entry.get("renamed_file") else FileStatus.MODIFIED)
    listed = ListedFile(str(entry["new_path"]), str(entry.get("old_path") or entry["new_path"]), status)
    if BINARY.match(diff):
        return listed
    if diff.strip():
        return replace(listed, patch=diff.rstrip("\n"))
    return replace(listed, too_large=bool(entry.get("too_large")), collapsed=bool(entry.get("collapsed")))


DEVELOPER = 30  # GitLab's access levels: 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner


class MergeRequestHandle:
    """The calls the review makes on one merge request."""

    def __init__(self, client: GitLabClient, project: str | int, iid: int) -> None:
        self.client, self.project, self.iid = client, str(project), iid
        self.base = f"/projects/{project_ref(project)}/merge_requests/{iid}"
        self.project_base = f"/projects/{project_ref(project)}"
        self.refs: dict[str, str] = {}
        self.web_url = ""
        self._files: list[ListedFile] = []
        self._notes: dict[int, str] = {}
        self._unplaced: list[str] = []

    def info(self) -> PullInfo:
        """Read the MR; its diff_refs can be null right after creation, so wait for them (bounded)."""
        raw: dict[str, Any] = {}
        for attempt in range(REFS_TRIES):
            raw = self.client.call("read the merge request", lambda: self.client.get(self.base))
            if raw.get("diff_refs") or raw.get("state") != "opened":
                break
            self.client.sleep_for(min(2.0 ** attempt, 8.0))
        refs = raw.get("diff_refs") or {}
        if not refs and raw.get("state") == "opened":
            raise GitLabError(f"GitLab has not computed the diff of !{self.iid} yet (diff_refs is still null)")
        self.refs = {k: str(refs.get(k) or "") for k in ("base_sha", "start_sha", "head_sha")}
        self.web_url = str(raw.get("web_url") or "")
        author = raw.get("author") or {}
        title = str(raw.get("title") or "")
        fork = raw.get("source_project_id") != raw.get("target_project_id")
        repo = str((raw.get("references") or {}).get("full", "")).rsplit("!", 1)[0] or self.project
        return PullInfo(
            repo=repo,
            number=int(raw["iid"]), title=title, body=str(raw.get("description") or ""),
            base_ref=str(raw.get("target_branch") or ""), base_sha=self.refs["base_sha"] or str(raw.get("sha") or ""),
            head_sha=self.refs["head_sha"] or str(raw.get("sha") or ""), author=str(author.get("username") or ""),
            author_is_bot=bool(author.get("bot")) or bool(BOT_USER.match(str(author.get("username") or ""))),
            draft=is_draft(raw),
            state=STATES.get(str(raw.get("state")), str(raw.get("state"))), html_url=self.web_url,
            labels=tuple(str(label) for label in raw.get("labels") or []),
            head_repo=str(raw.get("source_project_id")) if fork else None, noun="merge request", host_name="GitLab",
            budget_hint="the GitLab CI job also reads a `MISTRAL_REVIEW_BUDGET_USD` variable",
            link_base=link_base(self.client.web_url, repo) if not repo.isdigit() else "",
        )

    def files(self) -> tuple[list[ListedFile], bool]:
        """Return the MR's files (GitLab pages /diffs; nothing is cut)."""
        entries = self.client.call("list the merge request's diffs",
                                   lambda: self.client.list(self.base + "/diffs", per_page=100))
        self._files = [listed_file(e) for e in entries]
        return self._files, False

    def line_map(self) -> Positions:
        """Return the commentable rows of the diff read by files()."""
        return Positions(self._files)

    def file_text(self, path: str, ref: str, *, max_bytes: int | None = None) -> bytes | None:
        """Return a file's bytes at a ref, or None when it does not exist there.

        Raises TooLarge, having read at most 64 KB past `max_bytes`, when the file is larger.
        """
        url = f"{self.project_base}/repository/files/{project_ref(path)}/raw"

        def fetch() -> bytes | None:
            try:
                return self.client.raw(url, limit=max_bytes, ref=ref)
            except GitlabHttpError as exc:
                if exc.response_code == 404:
                    return None
                raise

        return self.client.call(f"read {path} at {ref[:12]}", fetch)

    def _compare(self, base: str, head: str) -> dict[str, Any] | None:
        def fetch() -> dict[str, Any] | None:
            try:
                return dict(self.client.get(self.project_base + "/repository/compare", **{"from": base, "to": head}))
            except GitlabHttpError as exc:
                if exc.response_code == 404:
                    return None
                raise

        return self.client.call("compare commits", fetch)

    def compare(self, base: str, head: str) -> Comparison | None:
        """Compare two commits; "ahead" only when `base` is an ancestor of `head` (else the flow reviews
        everything, as after a force-push); None when one of them no longer exists."""
        data = self._compare(base, head)
        if data is None:
            return None
        commits = data.get("commits") or []
        if data.get("compare_same_ref") or (not commits and not data.get("diffs")):
            return Comparison("identical", [], base)
        if data.get("compare_timeout"):
            return Comparison("diverged", [])  # GitLab gave up: review the whole MR diff
        ahead = any(base in (c.get("parent_ids") or []) for c in commits)
        if not ahead and commits and not any(c.get("parent_ids") for c in commits):
            back = self._compare(head, base)  # no parents listed: nothing on base's side means base is an ancestor
            ahead = back is not None and not back.get("commits")
        return Comparison("ahead" if ahead else "diverged", [listed_file(e) for e in data.get("diffs") or []],
                          base if ahead else None)

    def discussions(self) -> list[dict[str, Any]]:
        """Return the MR's discussions."""
        return self.client.call("list discussions", lambda: self.client.list(self.base + "/discussions", per_page=100))

    def review_comments(self) -> list[PostedComment]:
        """Return the diff notes on the MR."""
        return [PostedComment(int(n["id"]), str((n.get("author") or {}).get("username") or ""), str(n.get("body") or ""),
                              (n.get("position") or {}).get("new_path"), (n.get("position") or {}).get("new_line"))
                for d in self.discussions() for n in d.get("notes") or [] if n.get("type") == "DiffNote"]

    def issue_comments(self) -> list[PostedComment]:
        """Return the MR's plain notes (no system notes, no diff notes)."""
        notes = self.client.call("list notes", lambda: self.client.list(self.base + "/notes", per_page=100))
        found = [PostedComment(int(n["id"]), str((n.get("author") or {}).get("username") or ""), str(n.get("body") or ""))
                 for n in notes if not n.get("system") and n.get("type") in (None, "", "DiscussionNote")]
        self._notes = {c.id: c.body for c in found}
        return found

    def post_review(self, head_sha: str, comments: Sequence[Comment], overview: Overview) -> tuple[PostedReview, list[Comment]]:
        """Post the comments as one review (draft notes, then one publish); refused ones go to the summary note."""
        review, unplaced = posting.post_review(self, head_sha, comments, overview)
        # One line each, sanitised like every body (no "<": model text here cannot forge the summary's marker).
        self._unplaced = [no_quick_actions(unplaced_line(c, overview.link_base)) for c in unplaced]
        return review, unplaced

    def _with_unplaced(self, comment_id: int | None, body: str) -> str:
        old = self._notes.get(comment_id or -1, "")
        kept = old.split(UNPLACED_START, 1)[1].split(UNPLACED_END, 1)[0].strip().split("\n")[1:] if UNPLACED_START in old else []
        lines = (kept + self._unplaced)[-MAX_UNPLACED:]
        if not lines:
            return body
        section = "\n".join([UNPLACED_START, "Comments GitLab would not place on the diff:", *lines, UNPLACED_END])
        head, tag, tail = body.rpartition(SUMMARY_PREFIX)
        return f"{head}{section}\n\n{tag}{tail}" if tag else f"{body}\n\n{section}"

    def upsert_comment(self, comment_id: int | None, body: str) -> int:
        """Edit the summary note with this id, or create it; return its id. No line of it can run a quick action."""
        text = no_quick_actions(self._with_unplaced(comment_id, body))
        if comment_id is None:
            me = self.client.identity()

            def landed() -> int | None:
                return next((c.id for c in self.issue_comments() if c.author == me and c.body == text), None)

            note = self.client.call("create the summary note", lambda: self.client.write("POST", self.base + "/notes",
                                                                                         {"body": text}), landed=lambda: (
                {"id": found} if (found := landed()) is not None else None))
            return int(note["id"])
        self.client.call("update the summary note",
                         lambda: self.client.write("PUT", f"{self.base}/notes/{comment_id}", {"body": text}))
        return comment_id

    def access_level(self, user_id: int) -> int:
        """Return a user's effective access level on the project (0 when not a member)."""
        def fetch() -> int:
            try:
                return int(self.client.get(f"{self.project_base}/members/all/{user_id}")["access_level"])
            except GitlabHttpError as exc:
                if exc.response_code == 404:
                    return 0
                raise

        return self.client.call("read a member's access level", fetch)

    def may_request_review(self, user: str) -> bool:
        """Tell whether a user (GitLab's numeric id) has Developer access or more on the project."""
        return self.review_refusal(bounded_int(user, ID_DIGITS)) is None

    def review_refusal(self, user_id: int | None) -> str | None:
        """Return why this user may not ask for a review of the MR (below Developer, or no author named), else None.

        Raises GitLabError when GitLab cannot say; the caller then refuses (fail closed).
        """
        level = self.access_level(user_id) if user_id is not None else 0
        if level < DEVELOPER:
            return f"user {user_id} has access level {level}, below Developer; /review ignored"
        return None

    def acknowledge(self, comment_id: int) -> None:
        """Award 👀 to a `/review` note."""
        self.award(comment_id, "eyes")

    def award(self, note_id: int, name: str) -> None:
        """Award an emoji (by name, without colons) to a note of the MR."""
        self.client.call("award an emoji", lambda: self.client.write(
            "POST", f"{self.base}/notes/{note_id}/award_emoji", {"name": name}))
