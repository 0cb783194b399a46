"""A GitLab REST API (v4) double: a real HTTP server on 127.0.0.1 with in-memory state, driven by real python-gitlab.

Objects start from real or documented GitLab responses in tests/fixtures/gitlab. It is strict where GitLab is:
a diff note's position must name the MR's newest version and a real `(old_line, new_line)` pair of its diff
(otherwise the 400 GitLab sends), draft notes are seen by their author only until published, lists paginate
with absolute `Link` headers, a 429 carries `Retry-After` in whole seconds (or an HTTP date when asked), and lines
that start with a quick action run it (a note made only of quick actions is not created: 202 with the commands).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import threading
import traceback
from dataclasses import dataclass, field
from functools import cache
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.doubles.github import _Handler  # the same keep-alive JSON handler: it calls double._handle

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gitlab"
Json = dict[str, Any]
Response = tuple[int, Any, dict[str, str]]
QUICK_ACTIONS = {"merge", "approve", "unapprove", "close", "reopen", "assign", "unassign", "label", "unlabel",
                 "draft", "ready", "rebase", "submit_review", "assign_reviewer", "title", "lock", "due"}
HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
STEP = {"+": (0, 1), "-": (1, 0), " ": (1, 1)}  # which counters a line kind carries and advances


@cache
def fixture(name: str) -> Any:
    """Return a fixture's JSON (callers copy before changing it)."""
    return json.loads((FIXTURES / name).read_text())


def diff_rows(diff: str) -> list[tuple[int | None, int | None, str]]:
    """Return (old_line, new_line, kind) of each line of a GitLab diff (hunks only), as GitLab numbers them.

    Written apart from the adapter's numbering on purpose: the double is the oracle the adapter is tested against.
    """
    rows: list[tuple[int | None, int | None, str]] = []
    old = new = 0
    for raw in diff.split("\n"):
        if match := HUNK.match(raw):
            old, new = int(match[1]), int(match[2])
        elif raw[:1] in STEP:
            on_old, on_new = STEP[raw[:1]]
            rows.append((old if on_old else None, new if on_new else None, raw[:1]))
            old, new = old + on_old, new + on_new
    return rows


@dataclass
class Version:
    """One MR diff version: its three SHAs and its file diffs (GitLab's /diffs entries)."""

    id: int
    head: str
    base: str
    start: str
    diffs: list[Json]


@dataclass
class MergeRequest:
    """An MR with its versions, discussions, drafts and emoji."""

    iid: int
    title: str
    description: str
    author: Json
    draft: bool = False
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)  # newest first, as GitLab lists them
    discussions: list[Json] = field(default_factory=list)
    drafts: list[Json] = field(default_factory=list)
    awards: list[Json] = field(default_factory=list)
    null_refs_reads: int = 0  # GETs that still answer diff_refs null, as right after creation


@dataclass
class Project:
    """A project: its MRs, files by (ref, path), compares by (from, to) and members by user id."""

    id: int
    path: str
    mrs: dict[int, MergeRequest] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    compares: dict[tuple[str, str], Json] = field(default_factory=dict)
    members: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """One request the double served."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class _Fail(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _route(method: str, pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Mark an endpoint; {mr} stands for /projects/:id/merge_requests/:iid."""
    def mark(fn: Callable[..., Response]) -> Callable[..., Response]:
        regex = pattern.replace("{p}", r"/projects/(?P<pid>[^/]+)").replace(
            "{mr}", r"/projects/(?P<pid>[^/]+)/merge_requests/(?P<iid>\d+)")
        fn.route = (method, re.compile("^/api/v4" + regex + "$"))  # type: ignore[attr-defined]
        return fn
    return mark


class GitLabDouble:
    """GitLab's REST API for one test: ``with GitLabDouble() as gl: gitlab.Gitlab(gl.url, private_token=...)``."""

    def __init__(self, bot_username: str = "project_7_bot_mistral") -> None:
        """Bind a free port on 127.0.0.1 (serving starts with start() or ``with``)."""
        self.requests: list[Recorded] = []
        self.crashes: list[str] = []
        self.executed: list[str] = []  # quick actions GitLab would have run
        self.projects: dict[str, Project] = {}
        self.bulk_publish = True  # False: an instance without POST .../draft_notes/bulk_publish
        self.drafts_api = True  # False: an instance without the draft notes API at all
        self.refused: set[tuple[str, int | None, int | None]] = set()  # (path, old, new) GitLab will not place
        self.refused_at_publish: set[tuple[str, int | None, int | None]] = set()  # accepted as drafts, refused later
        self._faults: list[tuple[str, re.Pattern[str], int, Json | str, dict[str, str], bool]] = []
        self._ids = itertools.count(5001)
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.double = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._routes = [getattr(self, n) for n in dir(type(self)) if hasattr(getattr(type(self), n), "route")]
        self.users: dict[str, Json] = {}  # token -> user
        self.bot = self.add_user("glpat-bot", bot_username, 900)

    @property
    def url(self) -> str:
        """The GitLab URL to give python-gitlab (it appends /api/v4)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GitLabDouble:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ seeding and reading back

    def add_user(self, token: str, username: str, user_id: int) -> Json:
        """Register a user and the token that authenticates as them."""
        user = {**copy.deepcopy(fixture("api.user.get.docs.json")), "id": user_id, "username": username,
                "name": username, "web_url": f"{self.url}/{username}"}
        self.users[token] = user
        return user

    def add_project(self, path: str, project_id: int = 7) -> Project:
        """Create a project."""
        project = Project(project_id, path)
        self.projects[path] = self.projects[str(project_id)] = project
        return project

    def add_mr(self, path: str, iid: int, *, diffs: list[Json], head: str, base: str, title: str = "Update the code",
               description: str = "", draft: bool = False, author: str = "alice", null_refs_reads: int = 0) -> MergeRequest:
        """Open an MR whose first version has these /diffs entries."""
        user = next((u for u in self.users.values() if u["username"] == author), None) or self.add_user(
            f"glpat-{author}", author, 100 + len(self.users))
        mr = MergeRequest(iid, title, description, user, draft=draft, null_refs_reads=null_refs_reads)
        self.projects[path].mrs[iid] = mr
        self.push(path, iid, head=head, base=base, diffs=diffs)
        return mr

    def push(self, path: str, iid: int, *, head: str, base: str, diffs: list[Json]) -> None:
        """Add a newer MR version (a push to the source branch)."""
        mr = self.projects[path].mrs[iid]
        mr.versions.insert(0, Version(next(self._ids), head, base, base, copy.deepcopy(diffs)))

    def notes(self, path: str, iid: int) -> list[Json]:
        """Every published note of an MR, oldest first."""
        return [n for d in self.projects[path].mrs[iid].discussions for n in d["notes"]]

    def fail_next(self, method: str, path_regex: str, *, status: int, body: Json | str = "",
                  headers: dict[str, str] | None = None, after: bool = False, times: int = 1) -> None:
        """Answer the next matching request(s) with this status; with `after`, serve it first (a lost answer)."""
        for _ in range(times):
            self._faults.append((method, re.compile(path_regex), status, body, headers or {}, after))

    def rate_limit(self, method: str, path_regex: str, retry_after: int | str = 1) -> None:
        """Answer the next matching request with GitLab's 429 and a Retry-After: whole seconds, or any text such as
        an HTTP date."""
        headers = fixture("api.ratelimit.headers.docs.json")
        self.fail_next(method, path_regex, status=429, body=headers["default_429_body_self_managed"],
                       headers={**headers["all_requests"], "RateLimit-Remaining": "0", "Retry-After": str(retry_after)})

    # ------------------------------------------------------------ HTTP plumbing

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            split = urlsplit(target)
            query = parse_qs(split.query)
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = parse_qs(raw.decode())
            self.requests.append(Recorded(method, unquote(split.path), query, body))
            fault = self._fault(method, unquote(split.path))
            if fault is None or fault[3]:
                status, payload, extra = self._dispatch(method, split.path, query, headers, body if isinstance(body, dict) else {})
            if fault is not None:
                status, payload, extra = fault[:3]
            if status == 204:
                return status, b"", extra
            if isinstance(payload, bytes):
                return status, payload, {"Content-Type": "text/plain; charset=utf-8", **extra}
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            return status, data, {"Content-Type": "application/json", **extra}

    def _fault(self, method: str, path: str) -> tuple[int, Any, dict[str, str], bool] | None:
        for i, (m, pattern, status, body, headers, after) in enumerate(self._faults):
            if m == method and pattern.search(path):
                del self._faults[i]
                return status, body, headers, after
        return None

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Json) -> Response:
        token = next((v for k, v in headers.items() if k.lower() == "private-token"), "")
        job = any(k.lower() == "job-token" for k in headers)
        for endpoint in self._routes:
            route_method, pattern = endpoint.route
            match = pattern.match(path)
            if route_method != method or match is None:
                continue
            args = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                if job:  # a CI job token reaches none of the endpoints the bot uses to write or read discussions
                    raise _Fail(403, {"message": "403 Forbidden"})
                user = self.users.get(token) or _raise(_Fail(401, {"message": "401 Unauthorized"}))
                if "pid" in args:
                    args["project"] = self.projects.get(args.pop("pid")) or _raise(_Fail(404, {"message": "404 Project Not Found"}))
                if "/draft_notes" in path and not self.drafts_api:
                    raise _Fail(404, {"error": "404 Not Found"})
                if "iid" in args:
                    args["mr"] = args["project"].mrs.get(int(args.pop("iid"))) or _raise(
                        _Fail(404, {"message": "404 Not found"}))
                return endpoint(user=user, query=query, body=body, **args)
            except _Fail as fail:
                return fail.status, fail.body, {}
            except Exception:  # noqa: BLE001 - a crash in the double must show in the test, not hang it
                self.crashes.append(traceback.format_exc())
                return 500, {"message": "500 Internal Server Error"}, {}
        return 404, {"error": "404 Not Found"}, {}

    def _paginate(self, path: str, query: dict[str, list[str]], items: list[Any]) -> Response:
        """One page of a list, with GitLab's x-* headers and an absolute Link header."""
        per_page = min(100, max(1, int(query.get("per_page", ["20"])[0])))
        page, last = max(1, int(query.get("page", ["1"])[0])), max(1, -(-len(items) // per_page))
        params = {k: v[0] for k, v in query.items() if k != "page"}

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{path}?{urlencode({**params, "page": number})}>; rel="{rel}"'

        rels = [link(page + 1, "next")] if page < last else []
        rels += [link(page - 1, "prev")] if page > 1 else []
        rels += [link(1, "first"), link(last, "last")]
        headers = {"Link": ", ".join(rels), "X-Page": str(page), "X-Per-Page": str(per_page),
                   "X-Total": str(len(items)), "X-Total-Pages": str(last),
                   "X-Next-Page": str(page + 1) if page < last else "", "X-Prev-Page": str(page - 1) if page > 1 else ""}
        return 200, items[(page - 1) * per_page:page * per_page], headers

    # ------------------------------------------------------------ objects

    def _mr_json(self, project: Project, mr: MergeRequest) -> Json:
        data = copy.deepcopy(fixture("api.mr.get.gitlab-com.json"))
        newest = mr.versions[0]
        refs: Json | None = {"base_sha": newest.base, "head_sha": newest.head, "start_sha": newest.start}
        if mr.null_refs_reads > 0:
            mr.null_refs_reads -= 1
            refs = None
        data.update(iid=mr.iid, project_id=project.id, source_project_id=project.id, target_project_id=project.id,
                    title=mr.title, description=mr.description, state=mr.state, draft=mr.draft,
                    work_in_progress=mr.draft, author=mr.author, labels=mr.labels, sha=newest.head, diff_refs=refs,
                    changes_count=None if refs is None else str(len(newest.diffs)), closed_by=None, closed_at=None,
                    references={"short": f"!{mr.iid}", "relative": f"!{mr.iid}", "full": f"{project.path}!{mr.iid}"},
                    web_url=f"{self.url}/{project.path}/-/merge_requests/{mr.iid}")
        return data

    def _note(self, user: Json, body: str, mr: MergeRequest, project: Project, position: Json | None = None) -> Json:
        note = {**copy.deepcopy(fixture("api.mr.notes.get.docs.json")), "id": next(self._ids), "body": body,
                "author": user, "noteable_iid": mr.iid, "project_id": project.id, "type": None}
        if position is not None:
            note.update(type="DiffNote", position=position, resolvable=True, resolved=False)
        return note

    def _discussion(self, note: Json) -> Json:
        return {"id": hashlib.sha1(str(note["id"]).encode()).hexdigest(), "individual_note": note["type"] is None,
                "notes": [note]}

    def _check_position(self, mr: MergeRequest, position: Json, *, publishing: bool = False) -> None:
        """Refuse a position as GitLab does: newest version's SHAs and a real (old_line, new_line) pair."""
        bad = _Fail(400, fixture("api.mr.discussions.post.error.400.line_code.json"))
        needed = ("base_sha", "start_sha", "head_sha", "position_type", "old_path", "new_path")
        if any(not position.get(k) for k in needed):
            raise _Fail(400, {"message": "400 Bad request - Note {:position=>[\"is incomplete\"]}"})
        newest = mr.versions[0]  # stale SHAs (an older version's) are refused like a line outside the diff
        version = newest if (newest.base, newest.start, newest.head) == (
            position["base_sha"], position["start_sha"], position["head_sha"]) else None
        entry = next((d for d in (version.diffs if version else []) if d["new_path"] == position["new_path"]
                      and d["old_path"] == position["old_path"]), None)
        if entry is None:
            raise bad
        rows = {(o, n): kind for o, n, kind in diff_rows(entry["diff"])}
        pair = (_int(position.get("old_line")), _int(position.get("new_line")))
        refused = self.refused | (self.refused_at_publish if publishing else set())
        if pair not in rows or (position["new_path"], *pair) in refused:
            raise bad
        line_range = position.get("line_range")
        if line_range:
            for end in ("start", "end"):
                point = line_range.get(end) or {}
                key = (_int(point.get("old_line")), _int(point.get("new_line")))
                if key not in rows or (point.get("type") == "new") != (rows[key] == "+"):
                    raise bad
            if (_int(line_range["end"].get("old_line")), _int(line_range["end"].get("new_line"))) != pair:
                raise bad

    def _quick_actions(self, body: str) -> str:
        """Run the quick actions at line starts (strictly: fences and indentation do not protect them)."""
        kept = []
        for line in body.split("\n"):
            match = re.match(r"\s*/([a-z_]+)\b", line)
            if match and match[1] in QUICK_ACTIONS:
                self.executed.append(line.strip())
            else:
                kept.append(line)
        return "\n".join(kept)

    def _publish(self, project: Project, mr: MergeRequest, user: Json, draft: Json) -> None:
        if draft.get("position"):
            self._check_position(mr, draft["position"], publishing=True)
        body = self._quick_actions(draft["note"])
        if body.strip():
            mr.discussions.append(self._discussion(self._note(user, body, mr, project, draft.get("position"))))
        mr.drafts.remove(draft)

    # ------------------------------------------------------------ endpoints

    @_route("GET", "/user")
    def _get_user(self, user: Json, **_: Any) -> Response:
        return 200, user, {}

    @_route("GET", "{mr}")
    def _get_mr(self, project: Project, mr: MergeRequest, **_: Any) -> Response:
        return 200, self._mr_json(project, mr), {}

    @_route("GET", "{mr}/versions")
    def _versions(self, mr: MergeRequest, query: dict[str, list[str]], project: Project, **_: Any) -> Response:
        template = fixture("api.mr.versions.list.docs.json")[0]
        items = [{**template, "id": v.id, "head_commit_sha": v.head, "base_commit_sha": v.base,
                  "start_commit_sha": v.start, "real_size": str(len(v.diffs))} for v in mr.versions]
        return self._paginate(f"/api/v4/projects/{project.id}/merge_requests/{mr.iid}/versions", query, items)

    @_route("GET", "{mr}/diffs")
    def _diffs(self, mr: MergeRequest, query: dict[str, list[str]], project: Project, **_: Any) -> Response:
        return self._paginate(f"/api/v4/projects/{project.id}/merge_requests/{mr.iid}/diffs", query, mr.versions[0].diffs)

    @_route("GET", "{mr}/notes")
    def _list_notes(self, mr: MergeRequest, query: dict[str, list[str]], project: Project, **_: Any) -> Response:
        notes = [n for d in mr.discussions for n in d["notes"]][::-1]  # GitLab's default: newest first
        return self._paginate(f"/api/v4/projects/{project.id}/merge_requests/{mr.iid}/notes", query, notes)

    @_route("POST", "{mr}/notes")
    def _create_note(self, project: Project, mr: MergeRequest, user: Json, body: Json, **_: Any) -> Response:
        text = str(body.get("body") or "")
        kept = self._quick_actions(text)
        if not kept.strip():
            return 202, {"commands_changes": {}, "summary": ["Commands applied"]}, {}
        note = self._note(user, kept, mr, project)
        mr.discussions.append(self._discussion(note))
        return 201, note, {}

    @_route("PUT", r"{mr}/notes/(?P<nid>\d+)")
    def _edit_note(self, mr: MergeRequest, user: Json, body: Json, nid: str, **_: Any) -> Response:
        note = next((n for d in mr.discussions for n in d["notes"] if n["id"] == int(nid)), None)
        if note is None:
            raise _Fail(404, {"message": "404 Note Not Found"})
        if note["author"]["id"] != user["id"]:
            raise _Fail(403, {"message": "403 Forbidden"})
        note["body"] = self._quick_actions(str(body.get("body") or ""))
        return 200, note, {}

    @_route("GET", "{mr}/discussions")
    def _list_discussions(self, mr: MergeRequest, query: dict[str, list[str]], project: Project, **_: Any) -> Response:
        return self._paginate(f"/api/v4/projects/{project.id}/merge_requests/{mr.iid}/discussions", query, mr.discussions)

    @_route("POST", "{mr}/discussions")
    def _create_discussion(self, project: Project, mr: MergeRequest, user: Json, body: Json, **_: Any) -> Response:
        position = body.get("position")
        if position:
            self._check_position(mr, position)
        kept = self._quick_actions(str(body.get("body") or ""))
        discussion = self._discussion(self._note(user, kept, mr, project, position))
        mr.discussions.append(discussion)
        return 201, discussion, {}

    @_route("GET", "{mr}/draft_notes")
    def _list_drafts(self, mr: MergeRequest, user: Json, query: dict[str, list[str]], project: Project, **_: Any) -> Response:
        mine = [d for d in mr.drafts if d["author_id"] == user["id"]]
        return self._paginate(f"/api/v4/projects/{project.id}/merge_requests/{mr.iid}/draft_notes", query, mine)

    @_route("POST", "{mr}/draft_notes")
    def _create_draft(self, mr: MergeRequest, user: Json, body: Json, **_: Any) -> Response:
        position = body.get("position")
        if position:
            self._check_position(mr, position)
        draft = {"id": next(self._ids), "author_id": user["id"], "merge_request_id": mr.iid, "resolve_discussion": False,
                 "discussion_id": None, "note": str(body.get("note") or ""), "commit_id": None,
                 "line_code": None, "position": position}
        mr.drafts.append(draft)
        return 201, draft, {}

    def _own_draft(self, mr: MergeRequest, user: Json, did: str) -> Json:
        draft = next((d for d in mr.drafts if d["id"] == int(did) and d["author_id"] == user["id"]), None)
        return draft or _raise(_Fail(404, {"message": "404 Not found"}))

    @_route("DELETE", r"{mr}/draft_notes/(?P<did>\d+)")
    def _delete_draft(self, mr: MergeRequest, user: Json, did: str, **_: Any) -> Response:
        mr.drafts.remove(self._own_draft(mr, user, did))
        return 204, "", {}

    @_route("PUT", r"{mr}/draft_notes/(?P<did>\d+)/publish")
    def _publish_draft(self, project: Project, mr: MergeRequest, user: Json, did: str, **_: Any) -> Response:
        self._publish(project, mr, user, self._own_draft(mr, user, did))
        return 204, "", {}

    @_route("POST", "{mr}/draft_notes/bulk_publish")
    def _bulk_publish(self, project: Project, mr: MergeRequest, user: Json, **_: Any) -> Response:
        if not self.bulk_publish:
            raise _Fail(404, {"error": "404 Not Found"})
        mine = [d for d in mr.drafts if d["author_id"] == user["id"]]
        for draft in mine:  # GitLab checks them all before publishing any
            if draft.get("position"):
                self._check_position(mr, draft["position"], publishing=True)
        for draft in mine:
            self._publish(project, mr, user, draft)
        return 204, "", {}

    @_route("POST", r"{mr}/notes/(?P<nid>\d+)/award_emoji")
    def _award_note(self, mr: MergeRequest, user: Json, body: Json, query: dict[str, list[str]], nid: str, **_: Any) -> Response:
        name = str(body.get("name") or query.get("name", [""])[0])
        award = {**copy.deepcopy(fixture("api.award_emoji.note.post.docs.json")), "id": next(self._ids), "name": name,
                 "user": user, "awardable_id": int(nid), "awardable_type": "Note"}
        mr.awards.append(award)
        return 201, award, {}

    @_route("GET", r"{p}/members/all/(?P<uid>\d+)")
    def _member(self, project: Project, uid: str, **_: Any) -> Response:
        if int(uid) not in project.members:
            raise _Fail(404, {"message": "404 Not found"})
        return 200, {**fixture("api.project.members.all.get.docs.json"), "id": int(uid),
                     "access_level": project.members[int(uid)]}, {}

    @_route("GET", r"{p}/repository/files/(?P<fpath>[^/]+)/raw")
    def _raw_file(self, project: Project, fpath: str, query: dict[str, list[str]], **_: Any) -> Response:
        data = project.files.get((query.get("ref", ["HEAD"])[0], fpath))
        if data is None:
            raise _Fail(404, {"message": "404 File Not Found"})
        return 200, data, {}

    @_route("GET", r"{p}/repository/compare")
    def _compare(self, project: Project, query: dict[str, list[str]], **_: Any) -> Response:
        key = (query.get("from", [""])[0], query.get("to", [""])[0])
        if key not in project.compares:
            raise _Fail(404, {"message": "404 Not found"})
        return 200, project.compares[key], {}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _raise(exc: Exception) -> Any:
    raise exc
