"""A GitHub REST API double: a real HTTP server on 127.0.0.1 with in-memory state, driven by real PyGithub.

Bodies start from real objects (octokit.rb cassettes in tests/fixtures/github-recorded, or the examples of
GitHub's OpenAPI description where nothing was recorded), with every URL rewritten to the double's address.
Request bodies are validated against the OpenAPI requestBody schemas; violations land in ``schema_errors``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import jsonschema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DOCS = "https://docs.github.com/rest"
REVIEW_DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
SECONDARY_RATE_LIMIT = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
MAX_PR_FILES = 3000
ROLE_TO_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read",
                      "none": "none"}
EVENT_TO_STATE = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
Json = dict[str, Any]
Response = tuple[int, Any, dict[str, str]]
F = TypeVar("F", bound=Callable[..., Response])


# ---------------------------------------------------------------- templates: real objects, loaded once

def _recorded(cassette: str, method: str, uri_pattern: str) -> Any:
    """Return the JSON body of the last interaction of a cassette whose method and URI match."""
    data = json.loads((FIXTURES / "github-recorded" / f"{cassette}.json").read_text())
    for item in reversed(data["http_interactions"]):
        if item["request"]["method"] == method and re.search(uri_pattern, item["request"]["uri"]):
            body = item["response"]["body"]
            text = body["string"] if "string" in body else base64.b64decode(body["base64_string"]).decode()
            return json.loads(re.sub(r"(?<=[:\[,])<GITHUB_[A-Z_]+>", "1", text))  # unquoted placeholder ids
    raise LookupError(f"{cassette}: no {method} {uri_pattern}")


@cache
def openapi() -> Json:
    """The dereferenced OpenAPI subset."""
    return json.loads((FIXTURES / "github-openapi-subset.deref.json").read_text())


def _example(path: str, method: str, status: str = "200") -> Any:
    """Return the first example response body of an OpenAPI operation."""
    content = openapi()["paths"][path][method]["responses"][status]["content"]["application/json"]
    value = next(iter(content["examples"].values()))["value"]
    if isinstance(value, dict) and "value" in value and all(k.startswith("x-") for k in value if k != "value"):
        value = value["value"]  # a few examples are wrapped together with x-github-breaking-changes
    return value


@cache
def templates() -> Json:
    """One real object per resource: recorded where octokit.rb recorded one, else the OpenAPI example."""
    r = "/repos/{owner}/{repo}"
    return {
        "user": _recorded("reviews.create_with_comments", "post", r"/reviews$")["user"],
        "repo": _recorded("reviews.create_with_comments", "post", r"/orgs/[^/]+/repos$"),
        "pull": _recorded("pulls.get", "get", r"/pulls/\d+$"),
        "file": _recorded("pulls.list_files", "get", r"/files$")[0],
        "review": _recorded("reviews.list", "get", r"/reviews$")[0],
        "review_comment": _example(r + "/pulls/{pull_number}/comments", "get")[0],  # recorded ones lack line/side
        "issue_comment": _recorded("issues.create_comment", "post", r"/issues/\d+/comments$"),
        "issue": _example(r + "/issues/{issue_number}", "get"),
        "compare": _recorded("repos.compare", "get", r"/compare/"),
        "commit": _example(r + "/commits/{ref}", "get"),
        "content": _example(r + "/contents/{path}", "get"),
        "blob": _example(r + "/git/blobs/{file_sha}", "get"),
        "permission": _example(r + "/collaborators/{username}/permission", "get"),
        "reaction": _example(r + "/issues/comments/{comment_id}/reactions", "post", "201"),
        "installation": _recorded("apps.get_repo_installation", "get", r"/installation$"),
        "token": _example("/app/installations/{installation_id}/access_tokens", "post", "201"),
        "rate_limit": _example("/rate_limit", "get"),
    }


def _rewrite(obj: Any, pairs: list[tuple[str, str]]) -> Any:
    """Return a deep copy of obj with each (old, new) substring replaced in every string, in order."""
    if isinstance(obj, str):
        for old, new in pairs:
            obj = obj.replace(old, new)
        return obj
    if isinstance(obj, list):
        return [_rewrite(v, pairs) for v in obj]
    if isinstance(obj, dict):
        return {k: _rewrite(v, pairs) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- unified-diff hunks (GitHub's `patch` field)

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class DiffRow:
    """One hunk line: kind ' ', '+' or '-'; old/new file line numbers; position counted from the first @@."""

    kind: str
    old: int | None
    new: int | None
    position: int
    text: str


@dataclass
class Hunk:
    """A hunk header and its rows."""

    header: str
    rows: list[DiffRow] = field(default_factory=list)


def parse_hunks(patch: str | None) -> list[Hunk]:
    """Parse a GitHub file patch (hunks only, no ---/+++ lines) into hunks with line numbers and positions."""
    hunks: list[Hunk] = []
    position = old = new = old_left = new_left = 0
    for raw in (patch or "").split("\n"):
        match = HUNK_HEADER.match(raw)
        if match:
            position += bool(hunks)  # later @@ lines count as positions too
            old, new = int(match[1]), int(match[3])
            old_left = int(match[2]) if match[2] is not None else 1
            new_left = int(match[4]) if match[4] is not None else 1
            hunks.append(Hunk(raw))
        elif hunks and raw.startswith("\\"):
            position += 1  # "\ No newline at end of file"
        elif hunks and (old_left > 0 or new_left > 0):
            position += 1
            kind = raw[:1] if raw[:1] in "+-" else " "
            hunks[-1].rows.append(DiffRow(kind, None if kind == "+" else old, None if kind == "-" else new,
                                          position, raw))
            if kind != "+":
                old, old_left = old + 1, old_left - 1
            if kind != "-":
                new, new_left = new + 1, new_left - 1
    return hunks


def count_changes(patch: str | None) -> tuple[int, int]:
    """Return (additions, deletions) of a patch."""
    rows = [row for hunk in parse_hunks(patch) for row in hunk.rows]
    return sum(r.kind == "+" for r in rows), sum(r.kind == "-" for r in rows)


def find_row(hunks: list[Hunk], side: str, line: int) -> tuple[int, int] | None:
    """Return (hunk, row) indexes of a commentable line: RIGHT = added/context new line, LEFT = deleted/context old."""
    for h, hunk in enumerate(hunks):
        for i, row in enumerate(hunk.rows):
            if (side == "RIGHT" and row.new == line) or (side == "LEFT" and row.old == line):
                return h, i
    return None


def resolve_anchor(hunks: list[Hunk], comment: Json) -> tuple[int, int] | None:
    """Resolve a review comment (line/side/start_line/start_side, or the deprecated position) to its last row."""
    if comment.get("line") is None and comment.get("position") is not None:
        return next(((h, i) for h, hunk in enumerate(hunks) for i, row in enumerate(hunk.rows)
                     if row.position == comment["position"]), None)
    if not isinstance(comment.get("line"), int):
        return None
    side = comment.get("side") or "RIGHT"
    end = find_row(hunks, side, comment["line"])
    if end is None or comment.get("start_line") is None:
        return end
    start = find_row(hunks, comment.get("start_side") or side, comment["start_line"])
    return end if start is not None and start[0] == end[0] and start[1] <= end[1] else None


# ---------------------------------------------------------------- state

@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (body: parsed JSON, raw text if not JSON, None if empty)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    response: Response
    times: int
    apply_first: bool


@dataclass
class _Pull:
    number: int
    title: str
    body: str
    user: tuple[str, str]
    base_ref: str
    base_sha: str
    head_ref: str
    head_sha: str
    head_repo: str
    draft: bool
    labels: list[str]
    state: str
    created_at: str
    files: list[Json] = field(default_factory=list)
    pushes: dict[str, list[Json]] = field(default_factory=dict)  # head sha -> files at that push
    reviews: list[Json] = field(default_factory=list)
    review_comments: list[Json] = field(default_factory=list)
    issue_comments: list[Json] = field(default_factory=list)


@dataclass
class _Repo:
    full_name: str
    default_branch: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    shas: set[str] = field(default_factory=set)
    contents: dict[tuple[str, str], bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    compares: dict[tuple[str, str], Json] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, _Pull] = field(default_factory=dict)


class _Fail(Exception):
    """Raised by endpoints to answer an error."""

    def __init__(self, status: int, message: str, doc: str = DOCS, errors: list[str] | None = None) -> None:
        super().__init__(message)
        body: Json = {"message": message, **({"errors": errors} if errors is not None else {})}
        self.response: Response = (status, {**body, "documentation_url": doc, "status": str(status)}, {})


def _unprocessable(error: str, doc: str = REVIEW_DOCS) -> _Fail:
    return _Fail(422, "Unprocessable Entity", doc, [error])


MAX_BODY = 65_536  # GitHub's limit on any comment or review body, in characters


def _check_body(text: Any) -> None:
    """Refuse a body over GitHub's limit as GitHub does: 422, and nothing is created."""
    if isinstance(text, str) and len(text) > MAX_BODY:
        raise _unprocessable(f"body is too long (maximum is {MAX_BODY} characters)")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stable_id(text: str) -> int:
    return zlib.crc32(text.encode()) % 90_000_000 + 1_000_000


def _node(kind: str, key: object) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{key}".encode()).decode()


def _git_sha(data: bytes, kind: str = "blob") -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def _b64_lines(data: bytes) -> str:
    """Base64 wrapped at 60 characters a line, as the contents and blobs APIs send it."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i:i + 60] + "\n" for i in range(0, len(encoded), 60))


def _route(method: str, pattern: str, spec: str | None = None) -> Callable[[F], F]:
    """Mark an endpoint; {repo} stands for /repos/OWNER/REPO, spec is the OpenAPI path whose body schema applies."""
    def mark(fn: F) -> F:
        regex = "^" + pattern.replace("{repo}", r"/repos/(?P<full>[^/]+/[^/]+)") + "$"
        fn.route = (method, re.compile(regex), spec)  # type: ignore[attr-defined]
        return fn
    return mark


# ---------------------------------------------------------------- the double

class GitHubDouble:
    """GitHub's REST API for one test: ``with GitHubDouble() as gh: Github(base_url=gh.url, ...)``."""

    def __init__(self, bot_login: str = "mistral-review[bot]", *, installation_id: int = 1) -> None:
        """Bind a free port on 127.0.0.1 (serving starts with start() or ``with``)."""
        self.bot_login, self.installation_id = bot_login, installation_id
        self.requests: list[RecordedRequest] = []
        self.schema_errors: list[str] = []
        self.crashes: list[str] = []  # tracebacks of endpoints that raised (the client got a 500)
        self.reactions: list[Json] = []  # {"id", "comment_id", "content", "user", "created_at"}
        self.tokens: list[str] = []  # installation tokens handed out
        self._repos: dict[str, _Repo] = {}
        self._faults: list[_Fault] = []
        self._ids = itertools.count(4_000_001)
        self._lock = threading.RLock()
        self._rate_used, self._rate_reset = 0, int(time.time()) + 3600
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.double = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._routes = [getattr(self, n) for n in dir(type(self)) if hasattr(getattr(type(self), n), "route")]

    @property
    def url(self) -> str:
        """The base URL to give PyGithub (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GitHubDouble:
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> GitHubDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ seeding

    def add_repo(self, full_name: str, *, default_branch: str = "main", private: bool = False) -> None:
        """Create a repository (again: no change)."""
        with self._lock:
            self._repos.setdefault(full_name.lower(), _Repo(full_name, default_branch, private))

    def set_content(self, full_name: str, ref: str, path: str, text: str | bytes) -> None:
        """Store a file at a ref (branch name or sha; the contents API resolves one to the other); its blob too."""
        data = text.encode() if isinstance(text, str) else text
        repo = self._repo(full_name)
        repo.contents[(ref, path)] = repo.blobs[_git_sha(data)] = data
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            repo.shas.add(ref)

    def add_blob(self, full_name: str, sha: str, text_or_bytes: str | bytes) -> None:
        """Store a git blob under a sha of your choosing."""
        data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
        self._repo(full_name).blobs[sha] = data

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Set a user's role: admin, maintain, write, triage, read or none (the API's `permission` folds them)."""
        assert permission in ROLE_TO_PERMISSION, permission
        self._repo(full_name).permissions[login] = permission

    def add_pull(self, full_name: str, number: int, *, title: str = "Update the code", body: str = "",
                 user_login: str = "octocat", user_type: str = "User", base_ref: str = "main", base_sha: str,
                 head_ref: str = "feature", head_sha: str, files: list[Json], draft: bool = False,
                 labels: list[str] | tuple[str, ...] = (), state: str = "open",
                 head_repo_full_name: str | None = None) -> Json:
        """Open a pull request (a head_repo_full_name other than full_name makes it a fork); return its JSON."""
        with self._lock:
            repo = self._repo(full_name)
            pull = _Pull(number, title, body, (user_login, user_type), base_ref, base_sha, head_ref, head_sha,
                         head_repo_full_name or repo.full_name, draft, list(labels), state, _now())
            repo.pulls[number] = pull
            self._push(repo, pull, head_sha, files)
            return self._pull_json(repo, pull)

    def update_pull(self, full_name: str, number: int, *, head_sha: str | None = None,
                    files: list[Json] | None = None, **fields: Any) -> Json:
        """Push (a new head_sha and/or files) and/or change fields: title, body, state, draft, labels, base_sha..."""
        with self._lock:
            repo = self._repo(full_name)
            pull = repo.pulls[number]
            for name, value in fields.items():
                if name in ("number", "pushes", "files", "head_sha", "reviews", "review_comments", "issue_comments") \
                        or not hasattr(pull, name):
                    raise TypeError(f"update_pull: unknown field {name!r}")
                setattr(pull, name, list(value) if name == "labels" else value)
            self._push(repo, pull, head_sha or pull.head_sha, pull.files if files is None else files)
            return self._pull_json(repo, pull)

    def set_compare(self, full_name: str, base: str, head: str, *, status: str, files: list[Json],
                    merge_base_sha: str | None = None, ahead_by: int | None = None, behind_by: int | None = None,
                    commits: list[str] | None = None) -> None:
        """Define GET compare/{base}...{head}; status is ahead, behind, diverged or identical."""
        ahead, behind = {"ahead": (1, 0), "behind": (0, 1), "diverged": (1, 1), "identical": (0, 0)}[status]
        ahead = ahead if ahead_by is None else ahead_by
        repo = self._repo(full_name)
        repo.shas.update(s for s in (base, head, merge_base_sha) if s and re.fullmatch(r"[0-9a-f]{40}", s))
        made_up = [_git_sha(f"{head}~{i}".encode(), "commit") for i in range(ahead - 1, 0, -1)] + [head][:ahead]
        repo.compares[(base, head)] = {
            "status": status, "files": [_normalize_file(f) for f in files], "merge_base": merge_base_sha or base,
            "ahead_by": ahead, "behind_by": behind if behind_by is None else behind_by,
            "commits": made_up if commits is None else commits}

    def add_review_comment(self, full_name: str, number: int, *, path: str, line: int, body: str, user_login: str,
                           side: str = "RIGHT", user_type: str = "User", start_line: int | None = None,
                           start_side: str | None = None, commit_id: str | None = None,
                           in_reply_to: int | None = None) -> Json:
        """Seed someone's review comment (not checked against the diff); return its JSON."""
        with self._lock:
            repo = self._repo(full_name)
            pull = repo.pulls[number]
            spec = {"path": path, "line": line, "side": side, "start_line": start_line, "start_side": start_side,
                    "body": body}
            comment = self._review_comment_json(repo, pull, spec, None, commit_id or pull.head_sha,
                                                (user_login, user_type))
            if in_reply_to is not None:
                comment["in_reply_to_id"] = in_reply_to
            pull.review_comments.append(comment)
            return copy.deepcopy(comment)

    def add_issue_comment(self, full_name: str, number: int, *, body: str, user_login: str,
                          user_type: str = "User") -> Json:
        """Seed a conversation comment on a PR; return its JSON."""
        with self._lock:
            repo = self._repo(full_name)
            comment = self._issue_comment_json(repo, number, body, (user_login, user_type))
            repo.pulls[number].issue_comments.append(comment)
            return copy.deepcopy(comment)

    # ------------------------------------------------------------ inspection and faults

    def reviews(self, full_name: str, number: int) -> list[Json]:
        """Reviews stored on a PR (PENDING ones included), as GitHub returns them."""
        return copy.deepcopy(self._repo(full_name).pulls[number].reviews)

    def review_comments(self, full_name: str, number: int) -> list[Json]:
        """Review comments stored on a PR, those of pending reviews included."""
        return copy.deepcopy(self._repo(full_name).pulls[number].review_comments)

    def issue_comments(self, full_name: str, number: int) -> list[Json]:
        """Conversation comments stored on a PR."""
        return copy.deepcopy(self._repo(full_name).pulls[number].issue_comments)

    def fail_next(self, method: str, path_regex: str, *, status: int, body: Json | str | None = None,
                  headers: dict[str, str] | None = None, times: int = 1, apply_first: bool = False) -> None:
        """Answer the next `times` matching requests (method or "*") with this; apply_first processes them first."""
        if body is None:
            body = {"message": f"HTTP {status}", "documentation_url": DOCS}
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), (status, body, dict(headers or {})),
                                       times, apply_first))

    def secondary_rate_limit(self, method: str, path_regex: str, retry_after: int | str = 1, times: int = 1) -> None:
        """Answer the next matching requests with GitHub's 403 secondary rate limit and a Retry-After header
        (whole seconds, or any text such as an HTTP date)."""
        body = {"message": SECONDARY_RATE_LIMIT, "documentation_url": "https://docs.github.com/rest/using-the-rest-"
                "api/rate-limits-for-the-rest-api#about-secondary-rate-limits", "status": "403"}
        self.fail_next(method, path_regex, status=403, body=body, headers={"Retry-After": str(retry_after)},
                       times=times)

    # ------------------------------------------------------------ JSON builders

    def _repo(self, full_name: str) -> _Repo:
        self.add_repo(full_name)
        return self._repos[full_name.lower()]

    def _push(self, repo: _Repo, pull: _Pull, head_sha: str, files: list[Json]) -> None:
        pull.head_sha, pull.files = head_sha, [_normalize_file(f) for f in files]
        pull.pushes[head_sha] = pull.files
        repo.shas.update((pull.base_sha, head_sha))
        repo.branches[pull.base_ref] = pull.base_sha
        if pull.head_repo.lower() == repo.full_name.lower():
            repo.branches[pull.head_ref] = head_sha

    def _obj(self, kind: str, *pairs: tuple[str, str], **fields: Any) -> Json:
        """A copy of a template with strings rewritten (GitHub's hosts become the double's) and fields set."""
        out = _rewrite(templates()[kind], [*pairs, ("https://api.github.com", self.url),
                                           ("https://github.com", self.url)])
        out.update(fields)
        return out

    def _user(self, login: str, type_: str = "User") -> Json:
        old = templates()["user"]["login"]
        user = self._obj("user", (f"/{old}", f"/{quote(login)}"), login=login, id=_stable_id(login), type=type_,
                         node_id=_node("User", _stable_id(login)), site_admin=False)
        if type_ == "Bot":
            user["html_url"] = f"{self.url}/apps/{login.removesuffix('[bot]')}"
        return user

    def _repo_json(self, full_name: str, fork: bool = False) -> Json:
        repo = self._repos.get(full_name.lower()) or _Repo(full_name, "main", False)
        owner, name = repo.full_name.split("/")
        out = self._obj("repo", (templates()["repo"]["full_name"], repo.full_name), id=_stable_id(repo.full_name),
                        node_id=_node("Repository", repo.full_name), name=name, full_name=repo.full_name, fork=fork,
                        owner=self._user(owner), private=repo.private, default_branch=repo.default_branch,
                        visibility="private" if repo.private else "public", url=f"{self.url}/repos/{repo.full_name}",
                        html_url=f"{self.url}/{repo.full_name}", has_discussions=False, disabled=False)
        out.pop("organization", None)
        return out

    def _file_json(self, repo: _Repo, f: Json, ref: str) -> Json:
        name, api, web = quote(f["filename"]), f"{self.url}/repos/{repo.full_name}", f"{self.url}/{repo.full_name}"
        out = self._obj("file", blob_url=f"{web}/blob/{ref}/{name}", raw_url=f"{web}/raw/{ref}/{name}",
                        contents_url=f"{api}/contents/{name}?ref={ref}")
        out.pop("patch")  # absent for binaries and huge diffs
        out.update({k: v for k, v in f.items() if v is not None})
        return out

    def _pull_json(self, repo: _Repo, pull: _Pull) -> Json:
        api, web, n = f"{self.url}/repos/{repo.full_name}", f"{self.url}/{repo.full_name}", pull.number
        links = {"self": f"{api}/pulls/{n}", "html": f"{web}/pull/{n}", "issue": f"{api}/issues/{n}",
                 "comments": f"{api}/issues/{n}/comments", "review_comments": f"{api}/pulls/{n}/comments",
                 "review_comment": f"{api}/pulls/comments{{/number}}", "commits": f"{api}/pulls/{n}/commits",
                 "statuses": f"{api}/statuses/{pull.head_sha}"}

        def side(ref: str, sha: str, full: str) -> Json:
            return {"label": f"{full.split('/')[0]}:{ref}", "ref": ref, "sha": sha, "user": self._user(
                full.split("/")[0]), "repo": self._repo_json(full, fork=full.lower() != repo.full_name.lower())}

        files, pull_id = pull.files, _stable_id(f"{repo.full_name}#{n}")
        out = self._obj(
            "pull", **{f"{k}_url": v for k, v in links.items() if k != "self"}, url=links["self"],
            diff_url=f"{web}/pull/{n}.diff", patch_url=f"{web}/pull/{n}.patch",
            _links={k: {"href": v} for k, v in links.items()}, id=pull_id, node_id=_node("PullRequest", pull_id),
            number=n, state=pull.state, title=pull.title, body=pull.body, user=self._user(*pull.user),
            labels=[self._label(repo, name) for name in pull.labels], draft=pull.draft, created_at=pull.created_at,
            updated_at=_now(), head=side(pull.head_ref, pull.head_sha, pull.head_repo),
            base=side(pull.base_ref, pull.base_sha, repo.full_name), requested_reviewers=[], requested_teams=[],
            assignees=[], author_association="CONTRIBUTOR", auto_merge=None, merged=pull.state == "merged",
            locked=False, maintainer_can_modify=False,
            mergeable_state="clean", commits=len(pull.pushes), comments=len(pull.issue_comments),
            review_comments=len(_visible_comments(pull)), additions=sum(f["additions"] for f in files),
            deletions=sum(f["deletions"] for f in files), changed_files=len(files))
        return out

    def _label(self, repo: _Repo, name: str) -> Json:
        return {"id": _stable_id(name), "node_id": _node("Label", name), "name": name, "description": None,
                "url": f"{self.url}/repos/{repo.full_name}/labels/{quote(name)}", "color": "ededed", "default": False}

    def _issue_json(self, repo: _Repo, pull: _Pull) -> Json:
        api, web, n = f"{self.url}/repos/{repo.full_name}", f"{self.url}/{repo.full_name}", pull.number
        issue_id = _stable_id(f"{repo.full_name}/issues/{n}")
        return self._obj(
            "issue", id=issue_id, node_id=_node("Issue", issue_id), number=n, url=f"{api}/issues/{n}",
            repository_url=api, labels_url=f"{api}/issues/{n}/labels{{/name}}", html_url=f"{web}/pull/{n}",
            comments_url=f"{api}/issues/{n}/comments", events_url=f"{api}/issues/{n}/events", state=pull.state,
            title=pull.title, body=pull.body, user=self._user(*pull.user),
            labels=[self._label(repo, name) for name in pull.labels],
            assignee=None, assignees=[], milestone=None, locked=False, active_lock_reason=None, closed_by=None,
            state_reason=None, pinned_comment=None, comments=len(pull.issue_comments), draft=pull.draft,
            created_at=pull.created_at, updated_at=_now(), author_association="CONTRIBUTOR",
            pull_request={"url": f"{api}/pulls/{n}", "html_url": f"{web}/pull/{n}", "merged_at": None,
                          "diff_url": f"{web}/pull/{n}.diff", "patch_url": f"{web}/pull/{n}.patch"})

    def _issue_comment_json(self, repo: _Repo, number: int, body: str, user: tuple[str, str]) -> Json:
        cid, api, web = next(self._ids), f"{self.url}/repos/{repo.full_name}", f"{self.url}/{repo.full_name}"
        return self._obj(
            "issue_comment", id=cid, node_id=_node("IssueComment", cid), body=body, url=f"{api}/issues/comments/{cid}",
            issue_url=f"{api}/issues/{number}", html_url=f"{web}/pull/{number}#issuecomment-{cid}",
            user=self._user(*user), created_at=_now(), updated_at=_now(),
            author_association="NONE" if user[1] == "Bot" else "MEMBER")

    def _review_json(self, repo: _Repo, number: int, body: str, state: str, commit_id: str) -> Json:
        rid, pull_url = next(self._ids), f"{self.url}/repos/{repo.full_name}/pulls/{number}"
        html = f"{self.url}/{repo.full_name}/pull/{number}#pullrequestreview-{rid}"
        out = self._obj("review", id=rid, node_id=_node("PullRequestReview", rid), body=body, state=state,
                        user=self._user(self.bot_login, "Bot"), html_url=html, pull_request_url=pull_url,
                        commit_id=commit_id, submitted_at=_now(), author_association="NONE",
                        _links={"html": {"href": html}, "pull_request": {"href": pull_url}})
        if state == "PENDING":
            del out["submitted_at"]
        return out

    def _review_comment_json(self, repo: _Repo, pull: _Pull, spec: Json, review_id: int | None, commit_id: str,
                             user: tuple[str, str]) -> Json:
        cid, api, n = next(self._ids), f"{self.url}/repos/{repo.full_name}", pull.number
        html = f"{self.url}/{repo.full_name}/pull/{n}#discussion_r{cid}"
        files = {f["filename"]: f for f in pull.pushes.get(commit_id, pull.files)}
        hunks = parse_hunks(files.get(spec["path"], {}).get("patch"))
        anchor = resolve_anchor(hunks, spec)
        diff_hunk, position, line, side = "", None, spec.get("line"), spec.get("side") or "RIGHT"
        if anchor is not None:
            hunk, row = hunks[anchor[0]], hunks[anchor[0]].rows[anchor[1]]
            diff_hunk = "\n".join([hunk.header] + [r.text for r in hunk.rows[:anchor[1] + 1]])
            position = row.position
            if line is None:  # anchored by the deprecated position
                line, side = (row.old, "LEFT") if row.kind == "-" else (row.new, "RIGHT")
        start_line = spec.get("start_line")
        start_side = (spec.get("start_side") or side) if start_line is not None else None
        out = self._obj(
            "review_comment", id=cid, node_id=_node("PullRequestReviewComment", cid), url=f"{api}/pulls/comments/{cid}",
            pull_request_review_id=review_id or next(self._ids), diff_hunk=diff_hunk, path=spec["path"],
            position=position, original_position=position, commit_id=commit_id, original_commit_id=commit_id,
            user=self._user(*user), body=spec["body"], created_at=_now(), updated_at=_now(), html_url=html,
            pull_request_url=f"{api}/pulls/{n}", author_association="NONE" if user[1] == "Bot" else "MEMBER",
            _links={"self": {"href": f"{api}/pulls/comments/{cid}"}, "html": {"href": html},
                    "pull_request": {"href": f"{api}/pulls/{n}"}}, subject_type="line", start_line=start_line,
            original_start_line=start_line, start_side=start_side, line=line, original_line=line, side=side)
        out.pop("in_reply_to_id")
        return out

    def _commit_json(self, repo: _Repo, sha: str) -> Json:
        t, parent = templates()["commit"], _git_sha(f"{sha}^".encode(), "commit")
        return self._obj(
            "commit", (t["sha"], sha), ("octocat/Hello-World", repo.full_name), node_id=_node("Commit", sha),
            files=[], stats={"total": 0, "additions": 0, "deletions": 0}, author=self._user("octocat"),
            committer=self._user("web-flow"), parents=[{"sha": parent, "url": f"{self.url}/repos/{repo.full_name}/"
                                                        f"commits/{parent}", "html_url": f"{self.url}/"
                                                        f"{repo.full_name}/commit/{parent}"}])

    # ------------------------------------------------------------ HTTP plumbing

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes
                ) -> tuple[int, bytes, dict[str, str]]:
        """Serve one request: record it, inject faults, route, and add GitHub's headers."""
        with self._lock:
            split = urlsplit(target)
            path, query, body = unquote(split.path), parse_qs(split.query), None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
            self.requests.append(RecordedRequest(method, path, query, headers, body))
            fault = next((f for f in self._faults if f.method in (method, "*") and f.pattern.search(path)), None)
            if fault is not None:
                fault.times -= 1
                self._faults = [f for f in self._faults if f.times > 0]
            if fault is None or fault.apply_first:
                status, payload, extra = self._dispatch(method, split.path, path, query, headers, body)
            if fault is not None:
                status, payload, extra = fault.response
            self._rate_used += path != "/rate_limit"
            data = (payload if isinstance(payload, str) else "" if payload is None else json.dumps(payload)).encode()
            kind = "text/plain" if isinstance(payload, str) else "application/json"
            return status, data, {"Content-Type": f"{kind}; charset=utf-8", "X-GitHub-Media-Type": "github.v3; "
                                  "format=json", "X-GitHub-Api-Version-Selected": "2022-11-28",
                                  **self._rate_headers(), **extra}

    def _dispatch(self, method: str, raw_path: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                  body: Any) -> Response:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        for endpoint in self._routes:
            route_method, pattern, spec = endpoint.route
            match = pattern.match(raw_path)  # groups are unquoted below: paths and logins may be %-encoded
            if route_method != method or match is None:
                continue
            args: dict[str, Any] = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                self._check(method, path, auth, spec, body)
                if "full" in args:
                    args["repo"] = self._repos.get(args.pop("full").lower()) or _raise(_Fail(404, "Not Found"))
                if "n" in args:
                    args["pull"] = args["repo"].pulls.get(int(args.pop("n"))) or _raise(_Fail(404, "Not Found"))
                return endpoint(query=query, body=body if isinstance(body, dict) else {}, auth=auth, **args)
            except _Fail as fail:
                return fail.response
            except Exception:  # noqa: BLE001 - a crash in the double must show up in the test, not hang it
                self.crashes.append(traceback.format_exc())
                return 500, {"message": "the GitHub double crashed; see double.crashes"}, {}
        return _Fail(404, "Not Found").response

    def _check(self, method: str, path: str, auth: str, spec: str | None, body: Any) -> None:
        """Authentication as GitHub asks for it, then the request body against the OpenAPI schema."""
        if path.startswith("/app") or path.endswith("/installation"):
            if not auth.startswith("Bearer "):
                raise _Fail(401, "A JSON web token could not be decoded", f"{DOCS}/apps/apps")
        elif not auth and (method != "GET" or path == "/user"):
            raise _Fail(401, "Requires authentication")
        if method not in ("POST", "PATCH", "PUT"):
            return
        if isinstance(body, str):
            self.schema_errors.append(f"{method} {path}: body is not JSON")
            raise _Fail(400, "Problems parsing JSON")
        problems = _schema_problems(spec, method.lower(), body) if spec else []
        if problems:
            self.schema_errors.extend(f"{method} {path}: {p}" for p in problems)
            raise _Fail(422, "Invalid request.\n\n" + "\n".join(problems))

    def _rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(max(0, 5000 - self._rate_used)),
                "X-RateLimit-Reset": str(self._rate_reset), "X-RateLimit-Used": str(self._rate_used),
                "X-RateLimit-Resource": "core"}

    def _paginate(self, path: str, query: dict[str, list[str]], items: list[Any],
                  render: Callable[[Any], Any] = lambda x: x, default: int = 30, maximum: int = 100) -> Response:
        """Render one page of items and build GitHub's RFC 5988 Link header with absolute URLs."""
        per_page = min(maximum, max(1, int(query.get("per_page", [default])[0])))
        page, last = max(1, int(query.get("page", ["1"])[0])), max(1, -(-len(items) // per_page))
        params = {k: v[0] for k, v in query.items() if k != "page"}

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{quote(path)}?{urlencode({**params, "page": number})}>; rel="{rel}"'

        rels = ([link(page + 1, "next"), link(last, "last")] if page < last else []) + (
            [link(1, "first"), link(page - 1, "prev")] if page > 1 else [])
        page_items = [render(item) for item in items[(page - 1) * per_page:page * per_page]]
        return 200, page_items, {"Link": ", ".join(rels)} if rels else {}

    # ------------------------------------------------------------ endpoints

    @_route("GET", "/user")
    def _get_user(self, auth: str, **_: Any) -> Response:
        if auth.split()[-1].startswith("ghs_"):  # what GitHub answers to installation (and Actions) tokens
            raise _Fail(403, "Resource not accessible by integration", f"{DOCS}/users/users#get-the-authenticated-user")
        return 200, self._user(self.bot_login, "Bot"), {}

    @_route("POST", "/graphql")
    def _graphql(self, body: Json, **_: Any) -> Response:
        """Only the query the bot sends, `viewer { login }`, which GitHub answers for installation tokens too."""
        if not re.fullmatch(r"\s*query\s*\{\s*viewer\s*\{\s*login\s*\}\s*\}\s*", str(body.get("query", ""))):
            return 200, {"errors": [{"message": "the GitHub double answers only `query { viewer { login } }`"}]}, {}
        return 200, {"data": {"viewer": {"login": self.bot_login}}}, {}

    @_route("GET", "/rate_limit")
    def _get_rate_limit(self, **_: Any) -> Response:
        core = {"limit": 5000, "used": self._rate_used, "remaining": 5000 - self._rate_used, "reset": self._rate_reset}
        out = copy.deepcopy(templates()["rate_limit"])
        out["resources"]["core"] = out["rate"] = core
        return 200, out, {}

    @_route("GET", "/app")
    def _get_app(self, **_: Any) -> Response:
        slug = self.bot_login.removesuffix("[bot]")
        return 200, {"id": 1, "slug": slug, "node_id": _node("App", 1), "name": slug, "description": "",
                     "owner": self._user("mistral-review-org", "Organization"), "external_url": self.url,
                     "html_url": f"{self.url}/apps/{slug}", "created_at": _now(), "updated_at": _now(),
                     "permissions": {"contents": "read", "issues": "write", "pull_requests": "write"},
                     "events": ["pull_request", "issue_comment"], "installations_count": 1}, {}

    @_route("POST", r"/app/installations/(?P<iid>\d+)/access_tokens",
            "/app/installations/{installation_id}/access_tokens")
    def _create_token(self, iid: str, body: Json, **_: Any) -> Response:
        if int(iid) != self.installation_id:
            raise _Fail(404, "Not Found")
        self.tokens.append("ghs_" + secrets.token_hex(18))
        expires = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        permissions = body.get("permissions") or {"contents": "read", "issues": "write", "pull_requests": "write"}
        out = self._obj("token", token=self.tokens[-1], expires_at=expires, permissions=permissions,
                        repository_selection="all")
        out.pop("repositories")
        return 201, out, {}

    @_route("GET", "{repo}")
    def _get_repo(self, repo: _Repo, **_: Any) -> Response:
        return 200, self._repo_json(repo.full_name), {}

    @_route("GET", "{repo}/installation")
    def _get_installation(self, repo: _Repo, **_: Any) -> Response:
        owner, iid = repo.full_name.split("/")[0], self.installation_id
        return 200, self._obj(
            "installation", id=iid, account=self._user(owner, "Organization"), target_type="Organization",
            app_slug=self.bot_login.removesuffix("[bot]"), repository_selection="all",
            access_tokens_url=f"{self.url}/app/installations/{iid}/access_tokens",
            repositories_url=f"{self.url}/installation/repositories",
            html_url=f"{self.url}/organizations/{owner}/settings/installations/{iid}", suspended_at=None,
            suspended_by=None), {}

    @_route("GET", r"{repo}/pulls/(?P<n>\d+)")
    def _get_pull(self, repo: _Repo, pull: _Pull, **_: Any) -> Response:
        return 200, self._pull_json(repo, pull), {}

    @_route("GET", r"{repo}/pulls/(?P<n>\d+)/files")
    def _list_files(self, repo: _Repo, pull: _Pull, query: dict[str, list[str]], **_: Any) -> Response:
        return self._paginate(f"/repos/{repo.full_name}/pulls/{pull.number}/files", query,
                              pull.files[:MAX_PR_FILES], lambda f: self._file_json(repo, f, pull.head_sha))

    @_route("GET", r"{repo}/pulls/(?P<n>\d+)/reviews")
    def _list_reviews(self, repo: _Repo, pull: _Pull, query: dict[str, list[str]], **_: Any) -> Response:
        return self._paginate(f"/repos/{repo.full_name}/pulls/{pull.number}/reviews", query, pull.reviews)

    @_route("POST", r"{repo}/pulls/(?P<n>\d+)/reviews", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
    def _create_review(self, repo: _Repo, pull: _Pull, body: Json, **_: Any) -> Response:
        """GitHub's rules: one comment it cannot place rejects the whole review, and it does not say which."""
        commit_id, event = body.get("commit_id") or pull.head_sha, body.get("event")
        comments: list[Json] = body.get("comments") or []
        if commit_id not in pull.pushes:
            raise _unprocessable(f"No commit found for SHA: {commit_id}")
        if event is None and any(r["state"] == "PENDING" for r in pull.reviews):
            raise _unprocessable("User can only have one pending review per pull request")
        files = {f["filename"]: f for f in pull.pushes[commit_id]}
        _check_body(body.get("body"))
        for comment in comments:
            _check_body(comment.get("body"))
            if comment["path"] not in files:
                raise _unprocessable("Path could not be resolved")
            if resolve_anchor(parse_hunks(files[comment["path"]].get("patch")), comment) is None:
                raise _unprocessable("Line could not be resolved")
        review = self._review_json(repo, pull.number, body.get("body", ""), EVENT_TO_STATE.get(event, "PENDING"),
                                   commit_id)
        pull.reviews.append(review)
        bot = (self.bot_login, "Bot")
        pull.review_comments.extend(self._review_comment_json(repo, pull, c, review["id"], commit_id, bot)
                                    for c in comments)
        return 200, review, {}

    def _find_review(self, pull: _Pull, rid: str) -> Json:
        return next((r for r in pull.reviews if r["id"] == int(rid)), None) or _raise(_Fail(404, "Not Found"))

    @_route("GET", r"{repo}/pulls/(?P<n>\d+)/reviews/(?P<rid>\d+)")
    def _get_review(self, repo: _Repo, pull: _Pull, rid: str, **_: Any) -> Response:
        return 200, self._find_review(pull, rid), {}

    @_route("DELETE", r"{repo}/pulls/(?P<n>\d+)/reviews/(?P<rid>\d+)")
    def _delete_review(self, repo: _Repo, pull: _Pull, rid: str, **_: Any) -> Response:
        review = self._find_review(pull, rid)
        if review["state"] != "PENDING":
            raise _unprocessable("Can not delete a non pending pull request review",
                                 f"{DOCS}/pulls/reviews#delete-a-pending-review-for-a-pull-request")
        pull.reviews.remove(review)
        pull.review_comments[:] = [c for c in pull.review_comments if c["pull_request_review_id"] != review["id"]]
        return 200, review, {}

    @_route("GET", r"{repo}/pulls/(?P<n>\d+)/comments")
    def _list_review_comments(self, repo: _Repo, pull: _Pull, query: dict[str, list[str]], **_: Any) -> Response:
        return self._paginate(f"/repos/{repo.full_name}/pulls/{pull.number}/comments", query, _visible_comments(pull))

    @_route("GET", r"{repo}/issues/(?P<n>\d+)")
    def _get_issue(self, repo: _Repo, pull: _Pull, **_: Any) -> Response:
        return 200, self._issue_json(repo, pull), {}

    @_route("GET", r"{repo}/issues/(?P<n>\d+)/comments")
    def _list_issue_comments(self, repo: _Repo, pull: _Pull, query: dict[str, list[str]], **_: Any) -> Response:
        return self._paginate(f"/repos/{repo.full_name}/issues/{pull.number}/comments", query, pull.issue_comments)

    @_route("POST", r"{repo}/issues/(?P<n>\d+)/comments", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def _create_issue_comment(self, repo: _Repo, pull: _Pull, body: Json, **_: Any) -> Response:
        _check_body(body["body"])
        comment = self._issue_comment_json(repo, pull.number, body["body"], (self.bot_login, "Bot"))
        pull.issue_comments.append(comment)
        return 201, comment, {"Location": comment["url"]}

    def _find_issue_comment(self, repo: _Repo, cid: str) -> Json:
        found = next((c for p in repo.pulls.values() for c in p.issue_comments if c["id"] == int(cid)), None)
        return found or _raise(_Fail(404, "Not Found"))

    @_route("GET", r"{repo}/issues/comments/(?P<cid>\d+)")
    def _get_issue_comment(self, repo: _Repo, cid: str, **_: Any) -> Response:
        return 200, self._find_issue_comment(repo, cid), {}

    @_route("PATCH", r"{repo}/issues/comments/(?P<cid>\d+)", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def _update_issue_comment(self, repo: _Repo, cid: str, body: Json, **_: Any) -> Response:
        comment = self._find_issue_comment(repo, cid)
        _check_body(body["body"])
        if comment["user"]["login"] != self.bot_login:  # the bot may not edit people's comments (wording approximate)
            raise _Fail(403, "Resource not accessible by integration",
                        f"{DOCS}/issues/comments#update-an-issue-comment")
        comment.update(body=body["body"], updated_at=_now())
        return 200, comment, {}

    @_route("POST", r"{repo}/issues/comments/(?P<cid>\d+)/reactions",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
    def _create_reaction(self, repo: _Repo, cid: str, body: Json, **_: Any) -> Response:
        comment_id = self._find_issue_comment(repo, cid)["id"]
        existing = next((r for r in self.reactions if (r["comment_id"], r["content"], r["user"]) ==
                         (comment_id, body["content"], self.bot_login)), None)
        record = existing or {"id": next(self._ids), "comment_id": comment_id, "content": body["content"],
                              "user": self.bot_login, "created_at": _now()}
        if existing is None:
            self.reactions.append(record)
        return (200 if existing else 201), self._obj("reaction", id=record["id"], content=record["content"],
                                                     created_at=record["created_at"],
                                                     user=self._user(self.bot_login, "Bot")), {}

    @_route("GET", r"{repo}/compare/(?P<basehead>.+)")
    def _compare(self, repo: _Repo, basehead: str, query: dict[str, list[str]], **_: Any) -> Response:
        base, _, head = basehead.partition("...") if "..." in basehead else basehead.partition("..")
        if (base, head) not in repo.compares:  # a PR's own base...head needs no set_compare: "ahead", its files
            pull = next((p for p in repo.pulls.values()
                         if base in (p.base_sha, p.base_ref) and head in (p.head_sha, p.head_ref)), None)
            if pull is None:
                raise _Fail(404, "Not Found", f"{DOCS}/commits/commits#compare-two-commits")
            self.set_compare(repo.full_name, base, head, status="ahead", files=pull.files, commits=list(pull.pushes),
                             ahead_by=len(pull.pushes))
        spec = repo.compares[(base, head)]
        api, web = f"{self.url}/repos/{repo.full_name}", f"{self.url}/{repo.full_name}"
        status, commits, links = self._paginate(f"/repos/{repo.full_name}/compare/{basehead}", query, spec["commits"],
                                                lambda sha: self._commit_json(repo, sha), 250, 1000)
        return status, self._obj(
            "compare", url=f"{api}/compare/{basehead}", html_url=f"{web}/compare/{basehead}",
            permalink_url=f"{web}/compare/{basehead}", diff_url=f"{web}/compare/{basehead}.diff",
            patch_url=f"{web}/compare/{basehead}.patch", status=spec["status"], ahead_by=spec["ahead_by"],
            base_commit=self._commit_json(repo, repo.branches.get(base, base)), behind_by=spec["behind_by"],
            merge_base_commit=self._commit_json(repo, spec["merge_base"]), total_commits=len(spec["commits"]),
            commits=commits, files=[self._file_json(repo, f, head) for f in spec["files"][:300]]), links

    @_route("GET", r"{repo}/contents/(?P<path>.+)")
    def _get_content(self, repo: _Repo, path: str, query: dict[str, list[str]], **_: Any) -> Response:
        ref = query.get("ref", [repo.default_branch])[0]
        aliases = [ref] + [sha for b, sha in repo.branches.items() if b == ref] + [
            b for b, sha in repo.branches.items() if sha == ref]
        data = next((repo.contents[(r, path)] for r in aliases if (r, path) in repo.contents), None)
        if data is None:
            raise _Fail(404, "Not Found", f"{DOCS}/repos/contents#get-repository-content")
        sha, api, web = _git_sha(data), f"{self.url}/repos/{repo.full_name}", f"{self.url}/{repo.full_name}"
        links = {"self": f"{api}/contents/{quote(path)}?ref={ref}", "git": f"{api}/git/blobs/{sha}",
                 "html": f"{web}/blob/{ref}/{quote(path)}"}
        too_big = len(data) > 1024 * 1024  # GitHub sends no content for files over 1 MB: read the blob instead
        return 200, self._obj(
            "content", type="file", encoding="none" if too_big else "base64", size=len(data), path=path,
            name=path.split("/")[-1], sha=sha, url=links["self"], git_url=links["git"], html_url=links["html"],
            download_url=f"{self.url}/raw/{repo.full_name}/{ref}/{quote(path)}", _links=links,
            content="" if too_big else _b64_lines(data)), {}

    @_route("GET", r"{repo}/git/blobs/(?P<sha>[0-9a-f]+)")
    def _get_blob(self, repo: _Repo, sha: str, **_: Any) -> Response:
        data = repo.blobs.get(sha)
        if data is None:
            raise _Fail(404, "Not Found", f"{DOCS}/git/blobs#get-a-blob")
        return 200, self._obj("blob", sha=sha, size=len(data), url=f"{self.url}/repos/{repo.full_name}/git/blobs/{sha}",
                              node_id=_node("Blob", sha), encoding="base64", content=_b64_lines(data)), {}

    @_route("GET", r"{repo}/git/trees/(?P<sha>[^/]+)")
    def _get_tree(self, repo: _Repo, sha: str, query: dict[str, list[str]], **_: Any) -> Response:
        """A commit's tree as the double knows it: a PR's files at that push (nothing at a PR's base), recursive only."""
        pushed = next((p.pushes[sha] for p in repo.pulls.values() if sha in p.pushes), None)
        if pushed is None and not any(sha == p.base_sha for p in repo.pulls.values()):
            raise _Fail(404, "Not Found", f"{DOCS}/git/trees#get-a-tree")
        if query.get("recursive") != ["1"]:
            raise _Fail(422, "the GitHub double serves recursive trees only (?recursive=1)")
        api = f"{self.url}/repos/{repo.full_name}/git"
        entries = [{"path": f["filename"], "mode": "100644", "type": "blob", "sha": f["sha"], "size": len(f.get("patch") or ""),
                    "url": f"{api}/blobs/{f['sha']}"} for f in pushed or [] if f.get("status") != "removed"]
        tree_sha = _git_sha(repr(sorted((e["path"], e["sha"]) for e in entries)).encode(), "tree")
        return 200, {"sha": tree_sha, "url": f"{api}/trees/{tree_sha}", "tree": entries, "truncated": False}, {}

    @_route("GET", r"{repo}/commits/(?P<ref>[^/]+)")
    def _get_commit(self, repo: _Repo, ref: str, **_: Any) -> Response:
        sha = repo.branches.get(ref) or next((s for s in repo.shas if len(ref) >= 7 and s.startswith(ref)), None)
        if sha is None:
            raise _Fail(422, f"No commit found for SHA: {ref}", f"{DOCS}/commits/commits#get-a-commit")
        return 200, self._commit_json(repo, sha), {}

    @_route("GET", r"{repo}/collaborators/(?P<login>[^/]+)/permission")
    def _get_permission(self, repo: _Repo, login: str, **_: Any) -> Response:
        owner = repo.full_name.split("/")[0]
        role = repo.permissions.get(login) or ("admin" if login == owner else "none" if repo.private else "read")
        return 200, self._obj("permission", permission=ROLE_TO_PERMISSION[role], role_name=role,
                              user={**self._user(login), "role_name": role}), {}


def _raise(exc: Exception) -> Any:
    raise exc


def _visible_comments(pull: _Pull) -> list[Json]:
    """Review comments others can see: not those of pending reviews."""
    pending = {r["id"] for r in pull.reviews if r["state"] == "PENDING"}
    return [c for c in pull.review_comments if c["pull_request_review_id"] not in pending]


def _normalize_file(f: Json) -> Json:
    """Fill a PR file's status, additions, deletions, changes (counted from its patch) and sha."""
    adds, dels = count_changes(f.get("patch"))
    out = {"status": "modified", "additions": adds, "deletions": dels, **f}
    out.setdefault("changes", out["additions"] + out["deletions"])
    out.setdefault("sha", _git_sha(f"{out['filename']}\n{out.get('patch', '')}".encode()))
    return out


@cache
def _validator(spec_path: str, method: str) -> tuple[jsonschema.Draft4Validator, bool] | None:
    """The validator of an operation's JSON request body (OpenAPI 3.0 schemas are close to draft 4)."""
    request_body = openapi()["paths"][spec_path][method].get("requestBody")
    if not request_body:
        return None
    schema = request_body["content"]["application/json"]["schema"]
    return jsonschema.Draft4Validator(schema), bool(request_body.get("required"))


def _schema_problems(spec_path: str, method: str, body: Any) -> list[str]:
    """Return the violations of a request body against the operation's requestBody schema."""
    found = _validator(spec_path, method)
    if found is None:
        return []
    validator, required = found
    if body is None:
        return ["a request body is required"] if required else []
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(body)]


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the double; HTTP/1.1 keep-alive like api.github.com."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        double: GitHubDouble = self.server.double  # type: ignore[attr-defined]
        status, data, headers = double._handle(self.command, self.path, dict(self.headers.items()), raw)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Keep test output quiet."""
