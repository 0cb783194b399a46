"""The GitHub double, driven by real PyGithub over HTTP (and by raw urllib where PyGithub would refuse)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException, GithubIntegration, RateLimitExceededException, UnknownObjectException
from jsonschema import Draft4Validator

from tests.doubles.github import MAX_BODY, GitHubDouble, openapi, parse_hunks, resolve_anchor

REPO = "acme/widgets"
BASE, HEAD, HEAD2 = "b" * 40, "c" * 40, "d" * 40
# new file lines 10-16 and 40-42; old lines 10-15 and 38-41
PATCH = (
    "@@ -10,6 +10,7 @@ def load(path):\n"
    "     with open(path) as fh:\n"
    "         data = fh.read()\n"
    "-    return data\n"
    "+    if not data:\n"
    "+        raise ValueError(path)\n"
    "+    return data.strip()\n"
    " \n"
    " \n"
    "@@ -38,4 +40,3 @@ def save(path, data):\n"
    "     with open(path, \"w\") as fh:\n"
    "-        fh.write(data)\n"
    "-        fh.flush()\n"
    "+        fh.write(data + \"\\n\")\n"
    "\\ No newline at end of file"
)
FILES = [
    {"filename": "src/io.py", "status": "modified", "patch": PATCH},
    {"filename": "docs/new.md", "status": "added", "patch": "@@ -0,0 +1,2 @@\n+# New\n+text"},
    {"filename": "assets/logo.png", "status": "added", "additions": 0, "deletions": 0},  # binary: no patch
    {"filename": "src/renamed.py", "previous_filename": "src/old.py", "status": "renamed",
     "patch": "@@ -1,2 +1,2 @@\n-a = 1\n+a = 2\n b = 3"},
]


@pytest.fixture
def double() -> Iterator[GitHubDouble]:
    with GitHubDouble() as gh:
        gh.add_repo(REPO)
        gh.add_pull(REPO, 7, base_sha=BASE, head_sha=HEAD, files=FILES, labels=["bug"])
        yield gh
        assert gh.crashes == []


NO_THROTTLE = {"seconds_between_requests": 0, "seconds_between_writes": 0}  # PyGithub waits 0.25 s / 1 s by default


def client(double: GitHubDouble, token: str = "t", **kwargs: Any) -> Github:
    """A PyGithub client on the double: no retries, no throttling."""
    return Github(auth=Auth.Token(token), base_url=double.url, **{"retry": None, **NO_THROTTLE, **kwargs})


def raw(double: GitHubDouble, method: str, path: str, body: Any = None, token: str = "token t") -> tuple[int, Any]:
    """Send a raw request (for bodies PyGithub would never send)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(double.url + path, data=data, method=method,
                                     headers={"Authorization": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def comment(path: str, line: int, side: str = "RIGHT", **extra: Any) -> dict[str, Any]:
    return {"path": path, "line": line, "side": side, "body": f"about {path}:{line}", **extra}


# ---------------------------------------------------------------- hunk parser

def test_hunk_parser_numbers_lines_and_positions() -> None:
    first, second = parse_hunks(PATCH)
    assert [(r.kind, r.old, r.new, r.position) for r in first.rows[:4]] == [
        (" ", 10, 10, 1), (" ", 11, 11, 2), ("-", 12, None, 3), ("+", None, 12, 4)]
    assert second.header.startswith("@@ -38,4 +40,3 @@")
    assert [(r.kind, r.old, r.new, r.position) for r in second.rows] == [
        (" ", 38, 40, 10), ("-", 39, None, 11), ("-", 40, None, 12), ("+", None, 41, 13)]
    assert resolve_anchor([first, second], {"line": 14, "side": "RIGHT", "start_line": 12}) == (0, 5)
    assert resolve_anchor([first, second], {"line": 41, "start_line": 14}) is None  # spans two hunks
    assert resolve_anchor([first, second], {"line": 14, "start_line": 15}) is None  # start after end
    assert resolve_anchor([first, second], {"line": 40, "side": "LEFT"}) == (1, 2)
    assert resolve_anchor([first, second], {"line": 41, "side": "LEFT"}) is None
    assert resolve_anchor([first, second], {"position": 13}) == (1, 3)


# ---------------------------------------------------------------- reading a PR

def test_pull_request_and_its_files(double: GitHubDouble) -> None:
    pr = client(double).get_repo(REPO).get_pull(7)
    assert (pr.number, pr.head.sha, pr.base.sha, pr.base.ref, pr.user.login) == (7, HEAD, BASE, "main", "octocat")
    assert pr.url.startswith(double.url) and pr.html_url == f"{double.url}/{REPO}/pull/7"
    assert [label.name for label in pr.labels] == ["bug"] and pr.head.repo.fork is False
    files = {f.filename: f for f in pr.get_files()}
    assert files["src/io.py"].additions == 4 and files["src/io.py"].deletions == 3
    assert files["assets/logo.png"].patch is None
    assert files["src/renamed.py"].previous_filename == "src/old.py"
    assert pr.as_issue().labels[0].name == "bug"
    assert double.schema_errors == []


def test_files_paginate_with_link_headers_and_stop_at_3000(double: GitHubDouble) -> None:
    many = [{"filename": f"f{i:04}.txt", "status": "added", "patch": "@@ -0,0 +1 @@\n+x"} for i in range(3050)]
    double.add_pull(REPO, 8, base_sha=BASE, head_sha=HEAD, files=many)
    pr = client(double, per_page=100).get_repo(REPO).get_pull(8)
    names = [f.filename for f in pr.get_files()]
    assert names == [f["filename"] for f in many[:3000]]
    pages = [r for r in double.requests if r.path.endswith("/pulls/8/files")]
    assert len(pages) == 30 and pages[1].query["page"] == ["2"]
    small = client(double).get_repo(REPO).get_pull(8).get_files()
    assert small.totalCount == 3000  # PyGithub reads rel="last" of the default 30-per-page listing


def test_link_header_is_rfc5988_with_absolute_urls(double: GitHubDouble) -> None:
    double.add_pull(REPO, 9, base_sha=BASE, head_sha=HEAD,
                    files=[{"filename": f"x{i}", "patch": "@@ -0,0 +1 @@\n+x"} for i in range(5)])
    request = urllib.request.Request(f"{double.url}/repos/{REPO}/pulls/9/files?per_page=2&page=2")
    with urllib.request.urlopen(request) as response:
        link = response.headers["Link"]
        assert response.headers["X-RateLimit-Remaining"].isdigit()
    assert f'<{double.url}/repos/{REPO}/pulls/9/files?per_page=2&page=3>; rel="next"' in link
    assert 'page=3>; rel="last"' in link and 'page=1>; rel="first"' in link and 'page=1>; rel="prev"' in link


# ---------------------------------------------------------------- reviews

def test_review_with_comments_is_stored_and_listed(double: GitHubDouble) -> None:
    repo = client(double).get_repo(REPO)
    pr = repo.get_pull(7)
    review = pr.create_review(commit=repo.get_commit(HEAD), body="Two notes", event="COMMENT", comments=[
        comment("src/io.py", 14), comment("src/io.py", 39, "LEFT"),
        comment("src/io.py", 14, start_line=12, start_side="RIGHT")])
    assert review.state == "COMMENTED" and review.user.login == "mistral-review[bot]"
    assert review.html_url == f"{double.url}/{REPO}/pull/7#pullrequestreview-{review.id}"
    assert [r.id for r in pr.get_reviews()] == [review.id]
    listed = list(pr.get_review_comments())
    assert [(c.path, c.line, c.side, c.start_line, c.pull_request_review_id) for c in listed] == [
        ("src/io.py", 14, "RIGHT", None, review.id), ("src/io.py", 39, "LEFT", None, review.id),
        ("src/io.py", 14, "RIGHT", 12, review.id)]
    assert listed[0].diff_hunk.splitlines()[-1] == "+    return data.strip()"
    assert listed[0].commit_id == HEAD and listed[0].user.type == "Bot"
    assert double.schema_errors == []


@pytest.mark.parametrize(("bad", "error"), [
    (comment("src/io.py", 30), "Line could not be resolved"),            # outside every hunk
    (comment("src/io.py", 41, "LEFT"), "Line could not be resolved"),     # old file has no line 41 in a hunk
    (comment("src/io.py", 41, start_line=14), "Line could not be resolved"),  # range spans two hunks
    (comment("assets/logo.png", 1), "Line could not be resolved"),       # no patch: nothing to anchor on
    (comment("src/nope.py", 1), "Path could not be resolved"),
])
def test_one_bad_comment_rejects_the_whole_review(double: GitHubDouble, bad: dict[str, Any], error: str) -> None:
    repo = client(double).get_repo(REPO)
    with pytest.raises(GithubException) as caught:
        repo.get_pull(7).create_review(commit=repo.get_commit(HEAD), body="x", event="COMMENT",
                                       comments=[comment("src/io.py", 14), bad])
    assert caught.value.status == 422
    assert caught.value.data == {"message": "Unprocessable Entity", "errors": [error], "status": "422",
                                 "documentation_url": "https://docs.github.com/rest/pulls/reviews"
                                                      "#create-a-review-for-a-pull-request"}
    assert double.reviews(REPO, 7) == [] and double.review_comments(REPO, 7) == []


def test_pending_review_is_hidden_and_deletable(double: GitHubDouble) -> None:
    repo = client(double).get_repo(REPO)
    pr = repo.get_pull(7)
    pending = pr.create_review(commit=repo.get_commit(HEAD), body="", comments=[comment("docs/new.md", 2)])
    assert pending.state == "PENDING" and list(pr.get_review_comments()) == []
    with pytest.raises(GithubException) as caught:
        pr.create_review(commit=repo.get_commit(HEAD), comments=[comment("docs/new.md", 1)])
    assert caught.value.data["errors"] == ["User can only have one pending review per pull request"]
    pr.get_review(pending.id).delete()
    assert double.reviews(REPO, 7) == [] and double.review_comments(REPO, 7) == []
    done = pr.create_review(commit=repo.get_commit(HEAD), body="ok", event="COMMENT")
    with pytest.raises(GithubException) as caught:
        pr.get_review(done.id).delete()
    assert caught.value.status == 422


def test_a_new_push_changes_what_can_be_commented(double: GitHubDouble) -> None:
    double.update_pull(REPO, 7, head_sha=HEAD2, files=[{"filename": "src/io.py", "patch": "@@ -1 +1 @@\n-a\n+b"}])
    repo = client(double).get_repo(REPO)
    pr = repo.get_pull(7)
    assert pr.head.sha == HEAD2 and pr.commits == 2
    pr.create_review(commit=repo.get_commit(HEAD2), body="new", event="COMMENT", comments=[comment("src/io.py", 1)])
    with pytest.raises(GithubException):
        pr.create_review(commit=repo.get_commit(HEAD2), body="x", event="COMMENT", comments=[comment("src/io.py", 14)])
    old = pr.create_review(commit=repo.get_commit(HEAD), body="old", event="COMMENT",
                           comments=[comment("src/io.py", 14)])  # an older push is still commentable
    assert old.commit_id == HEAD


def test_invalid_bodies_are_recorded_as_schema_errors(double: GitHubDouble) -> None:
    status, body = raw(double, "POST", f"/repos/{REPO}/pulls/7/reviews", {"event": "BOGUS", "body": "x"})
    assert status == 422 and body["message"].startswith("Invalid request.\n\n")
    assert len(double.schema_errors) == 1 and "BOGUS" in double.schema_errors[0]
    status, _ = raw(double, "POST", f"/repos/{REPO}/issues/7/comments", {"text": "no body field"})
    assert status == 422 and len(double.schema_errors) == 2
    assert double.reviews(REPO, 7) == [] and double.issue_comments(REPO, 7) == []


# ---------------------------------------------------------------- conversation comments, reactions

def test_issue_comment_create_edit_and_react(double: GitHubDouble) -> None:
    human = double.add_issue_comment(REPO, 7, body="@mistral-review please", user_login="alice")
    pr = client(double).get_repo(REPO).get_pull(7)
    created = pr.create_issue_comment("Summary v1")
    assert created.user.login == "mistral-review[bot]" and created.html_url.startswith(double.url)
    pr.get_issue_comment(created.id).edit("Summary v2")
    assert [c["body"] for c in double.issue_comments(REPO, 7)] == ["@mistral-review please", "Summary v2"]
    assert [c.user.login for c in pr.get_issue_comments()] == ["alice", "mistral-review[bot]"]
    pr.get_issue_comment(human["id"]).create_reaction("eyes")
    pr.get_issue_comment(human["id"]).create_reaction("eyes")  # the same reaction twice is one reaction
    assert [(r["comment_id"], r["content"]) for r in double.reactions] == [(human["id"], "eyes")]
    with pytest.raises(GithubException) as caught:
        pr.get_issue_comment(human["id"]).edit("hijacked")
    assert caught.value.status == 403
    assert double.schema_errors == []


def test_bodies_over_githubs_limit_are_refused_with_422(double: GitHubDouble) -> None:
    pr = client(double).get_repo(REPO).get_pull(7)
    created = pr.create_issue_comment("x" * MAX_BODY)  # exactly the limit is accepted
    for attempt in (lambda: pr.create_issue_comment("x" * (MAX_BODY + 1)),
                    lambda: pr.get_issue_comment(created.id).edit("y" * (MAX_BODY + 1)),
                    lambda: pr.create_review(body="z" * (MAX_BODY + 1), event="COMMENT")):
        with pytest.raises(GithubException) as caught:
            attempt()
        assert caught.value.status == 422 and "too long" in str(caught.value.data)
    assert [len(c["body"]) for c in double.issue_comments(REPO, 7)] == [MAX_BODY] and double.reviews(REPO, 7) == []


def test_seeded_review_comments_are_listed(double: GitHubDouble) -> None:
    double.add_review_comment(REPO, 7, path="src/io.py", line=12, body="why?", user_login="bob")
    [listed] = client(double).get_repo(REPO).get_pull(7).get_review_comments()
    assert (listed.user.login, listed.line, listed.side, listed.body) == ("bob", 12, "RIGHT", "why?")


# ---------------------------------------------------------------- contents, blobs, commits, compare

def test_contents_at_a_ref_and_blobs(double: GitHubDouble) -> None:
    double.set_content(REPO, "feature", ".github/mistral-review.yml", "max_comments: 5\n")
    double.add_blob(REPO, "e" * 40, b"\x00binary")
    repo = client(double).get_repo(REPO)
    content = repo.get_contents(".github/mistral-review.yml", ref=HEAD)  # the sha of branch "feature"
    assert content.decoded_content == b"max_comments: 5\n"
    assert repo.get_git_blob(content.sha).content.replace("\n", "") == "bWF4X2NvbW1lbnRzOiA1Cg=="
    assert repo.get_git_blob("e" * 40).size == 7
    with pytest.raises(UnknownObjectException):
        repo.get_contents(".github/mistral-review.yml", ref=BASE)
    with pytest.raises(GithubException) as caught:
        repo.get_commit("f" * 40).sha  # noqa: B018 - get_commit is lazy
    assert caught.value.status == 422


def test_compare(double: GitHubDouble) -> None:
    double.set_compare(REPO, HEAD, HEAD2, status="diverged", merge_base_sha=BASE,
                       files=[{"filename": "src/io.py", "patch": "@@ -1 +1 @@\n-a\n+b"}])
    repo = client(double).get_repo(REPO)
    cmp = repo.compare(HEAD, HEAD2)
    assert (cmp.status, cmp.ahead_by, cmp.behind_by, cmp.merge_base_commit.sha) == ("diverged", 1, 1, BASE)
    assert [(f.filename, f.additions, f.patch) for f in cmp.files] == [("src/io.py", 1, "@@ -1 +1 @@\n-a\n+b")]
    assert [c.sha for c in cmp.commits] == [HEAD2]
    own = repo.compare(BASE, HEAD)  # a PR's own range needs no set_compare
    assert own.status == "ahead" and len(own.files) == len(FILES)
    with pytest.raises(UnknownObjectException):
        repo.compare(HEAD2, BASE)


# ---------------------------------------------------------------- faults and retries

def test_lost_answer_stores_the_review_but_raises(double: GitHubDouble) -> None:
    double.fail_next("POST", r"/pulls/7/reviews$", status=502, body={"message": "Server Error"}, apply_first=True)
    repo = client(double).get_repo(REPO)
    with pytest.raises(GithubException) as caught:
        repo.get_pull(7).create_review(commit=repo.get_commit(HEAD), body="x", event="COMMENT")
    assert caught.value.status == 502 and len(double.reviews(REPO, 7)) == 1


def test_pygithub_default_retry_repeats_a_post_after_a_5xx(double: GitHubDouble) -> None:
    """Github() retries 5xx (POST included) by default: a lost answer becomes a duplicate review."""
    double.fail_next("POST", r"/pulls/7/reviews$", status=502, apply_first=True)
    gh = Github(auth=Auth.Token("t"), base_url=double.url, **NO_THROTTLE)  # the default retry=GithubRetry()
    repo = gh.get_repo(REPO)
    repo.get_pull(7).create_review(commit=repo.get_commit(HEAD), body="x", event="COMMENT")
    assert len(double.reviews(REPO, 7)) == 2
    assert [r.method for r in double.requests if r.path.endswith("/reviews")] == ["POST", "POST"]


def test_secondary_rate_limit(double: GitHubDouble) -> None:
    double.secondary_rate_limit("GET", rf"^/repos/{REPO}/pulls/7$", retry_after=1)
    with pytest.raises(RateLimitExceededException) as caught:
        client(double).get_repo(REPO).get_pull(7)
    assert caught.value.status == 403 and caught.value.headers["retry-after"] == "1"
    double.secondary_rate_limit("GET", rf"^/repos/{REPO}/pulls/7$", retry_after=1)
    started = time.monotonic()
    assert Github(auth=Auth.Token("t"), base_url=double.url, **NO_THROTTLE).get_repo(REPO).get_pull(7).number == 7
    assert time.monotonic() - started >= 1  # the default retry slept Retry-After, then asked again


# ---------------------------------------------------------------- response shapes

def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` as JSON Schema (null also passes an enum)."""
    if isinstance(schema, list):
        return [_nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def test_responses_match_the_openapi_schemas_and_point_at_the_double(double: GitHubDouble) -> None:
    double.set_content(REPO, "main", "README.md", "hello")
    double.set_compare(REPO, HEAD, HEAD2, status="behind", files=[])
    double.add_review_comment(REPO, 7, path="src/io.py", line=12, body="why?", user_login="bob")
    comment_id = double.add_issue_comment(REPO, 7, body="hi", user_login="alice")["id"]
    blob = next(iter(double._repos[REPO].blobs))
    r = "/repos/{owner}/{repo}"
    cases = {f"/repos/{REPO}": r, f"/repos/{REPO}/pulls/7": r + "/pulls/{pull_number}",
             f"/repos/{REPO}/pulls/7/files": r + "/pulls/{pull_number}/files",
             f"/repos/{REPO}/pulls/7/reviews": r + "/pulls/{pull_number}/reviews",
             f"/repos/{REPO}/pulls/7/comments": r + "/pulls/{pull_number}/comments",
             f"/repos/{REPO}/issues/7": r + "/issues/{issue_number}",
             f"/repos/{REPO}/issues/7/comments": r + "/issues/{issue_number}/comments",
             f"/repos/{REPO}/issues/comments/{comment_id}": r + "/issues/comments/{comment_id}",
             f"/repos/{REPO}/compare/{HEAD}...{HEAD2}": r + "/compare/{basehead}",
             f"/repos/{REPO}/contents/README.md": r + "/contents/{path}",
             f"/repos/{REPO}/git/blobs/{blob}": r + "/git/blobs/{file_sha}",
             f"/repos/{REPO}/commits/{HEAD}": r + "/commits/{ref}",
             f"/repos/{REPO}/collaborators/alice/permission": r + "/collaborators/{username}/permission",
             "/rate_limit": "/rate_limit"}
    strays: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict | list):
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)
        elif isinstance(value, str) and value.startswith("http") and not value.startswith(double.url) and not any(
                host in value for host in ("githubusercontent.com", "gravatar.com", "docs.github.com")):
            strays.append(value)

    for path, spec in cases.items():
        status, body = raw(double, "GET", path)
        schema = openapi()["paths"][spec]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        errors = [f"{path}: {e.json_path}: {e.message}" for e in Draft4Validator(_nullable(schema)).iter_errors(body)]
        assert status == 200 and errors == []
        walk(body)
    assert strays == []


# ---------------------------------------------------------------- identity, permissions, app auth, misc

def test_identity_permissions_and_rate_limit(double: GitHubDouble) -> None:
    gh = client(double)
    me = gh.get_user()
    assert (me.login, me.type) == ("mistral-review[bot]", "Bot")
    double.set_permission(REPO, "alice", "maintain")
    repo = gh.get_repo(REPO)
    assert repo.get_collaborator_permission("alice") == "write"  # `permission` never says maintain/triage
    assert raw(double, "GET", f"/repos/{REPO}/collaborators/alice/permission")[1]["role_name"] == "maintain"
    assert repo.get_collaborator_permission("stranger") == "read"
    assert repo.get_collaborator_permission("acme") == "admin"
    core = gh.get_rate_limit().resources.core
    assert core.limit == 5000 and 0 < core.remaining < 5000
    assert raw(double, "GET", "/nope") == (404, {"message": "Not Found", "status": "404",
                                               "documentation_url": "https://docs.github.com/rest"})


def test_app_installation_token(double: GitHubDouble) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    integration = GithubIntegration(auth=Auth.AppAuth(123, key), base_url=double.url, **NO_THROTTLE)
    installation = integration.get_repo_installation("acme", "widgets")
    token = integration.get_access_token(installation.id)
    assert token.token.startswith("ghs_") and token.token in double.tokens
    assert timedelta(minutes=59) < token.expires_at - datetime.now(timezone.utc) <= timedelta(hours=1)
    with pytest.raises(GithubException) as caught:  # installation tokens cannot read /user on GitHub either
        client(double, token.token).get_user().login  # noqa: B018
    assert caught.value.status == 403
    assert raw(double, "GET", f"/repos/{REPO}/installation")[0] == 401  # needs the app's JWT
    assert double.schema_errors == []
