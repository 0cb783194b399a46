"""Merge requests end to end: real python-gitlab and mistralai against the GitLab and Mistral doubles over HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.cli import main
from tests.doubles.gitlab import GitLabDouble, diff_rows
from tests.doubles.mistral import MistralDouble, Reply
from tests.markdownoracle import live_problems
from tests.mergerequests import BASE_SHA, HEAD_SHA, PROJECT, diff_entries, diff_notes, marker_of, mr_env, review_mr, summary_of
from tests.modelreplies import added_lines, comment, first_added


@pytest.fixture()
def gl() -> Iterator[GitLabDouble]:
    with GitLabDouble() as double:
        double.add_project(PROJECT)
        yield double
    assert double.crashes == []


def test_an_opened_mr_gets_one_set_of_discussions_and_one_summary_note(gl: GitLabDouble, mistral: MistralDouble) -> None:
    gl.add_mr(PROJECT, 3, diffs=diff_entries("medium-multi-file.diff"), head=HEAD_SHA, base=BASE_SHA)
    mistral.responder = each_file(suggestion="    pass")
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and result["status"] == "reviewed", err
    notes = diff_notes(gl)
    assert len(notes) == len(result["comments"]) >= 2
    for note in notes:
        assert note["position"]["head_sha"] == HEAD_SHA and "new_line" in note["position"]
        assert "```suggestion:-0+0\n    pass\n```" in note["body"]
    assert gl.projects[PROJECT].mrs[3].drafts == []
    marker = marker_of(gl)
    assert marker["head"] == HEAD_SHA and marker["reviews"] == 1
    assert "Budget left" in summary_of(gl)["body"]
    publishes = [r for r in gl.requests if r.path.endswith("/draft_notes/bulk_publish")]
    assert len(publishes) == 1 and not any(r.method == "POST" and r.path.endswith("/discussions") for r in gl.requests)


def each_file(**extra: Any) -> Callable[[dict[str, Any], int], Reply]:
    """A model that comments on the first added line of every file of the batch."""
    def respond(request: dict[str, Any], attempt: int) -> Reply:
        firsts: dict[str, tuple[int, str]] = {}
        for path, line, text in added_lines(request):
            firsts.setdefault(path, (line, text))
        return Reply(json.dumps({"comments": [comment(p, ln, t, body=f"Check {p}.", **extra)
                                              for p, (ln, t) in firsts.items()]}))

    return respond


def _open(gl: GitLabDouble, *names: str, **fields: Any) -> list[dict[str, Any]]:
    entries = [e for name in names for e in diff_entries(name)]
    gl.add_mr(PROJECT, 3, diffs=entries, head=HEAD_SHA, base=BASE_SHA, **fields)
    return entries


@pytest.mark.parametrize("parents", [True, False], ids=["parent_ids", "no-parent_ids"])
def test_a_push_is_reviewed_incrementally_only_the_new_hunks(gl: GitLabDouble, mistral: MistralDouble, parents: bool) -> None:
    entries = _open(gl, "medium-multi-file.diff")
    review_mr(gl, mistral)  # the model double's default reply
    first = len(diff_notes(gl))
    new_head = "d" * 40
    changed = next(e for e in entries if e["new_path"] == "src/flask/helpers.py")
    gl.push(PROJECT, 3, head=new_head, base=BASE_SHA, diffs=entries)
    first_hunk = changed["diff"].split("\n@@")[0]
    compares = gl.projects[PROJECT].compares
    compares[(HEAD_SHA, new_head)] = {
        "commit": {"id": new_head}, "commits": [{"id": new_head, "parent_ids": [HEAD_SHA] if parents else []}],
        "diffs": [{**changed, "diff": first_hunk}], "compare_timeout": False, "compare_same_ref": False}
    compares[(new_head, HEAD_SHA)] = {"commit": None, "commits": [], "diffs": [], "compare_timeout": False,
                                      "compare_same_ref": False}
    mistral.reset()
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    (asked,) = mistral.user_messages()
    assert [ln for ln in asked.splitlines() if ln.startswith("### ")] == ["### src/flask/helpers.py"]
    assert asked.count("\n@@ ") == 1
    notes = diff_notes(gl)
    assert len(notes) == first + 1 and notes[-1]["position"]["head_sha"] == new_head
    assert marker_of(gl)["head"] == new_head and len([n for n in gl.notes(PROJECT, 3) if n["type"] is None]) == 1


def test_a_refused_position_goes_into_the_summary_and_the_rest_are_published(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff", "new-file.diff")
    mistral.responder = each_file()
    gl.refused.add(("tests/typing/typing_route.py", None, 1))  # GitLab's diff of the version disagrees on this line
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and result["status"] == "reviewed", err
    (note,) = diff_notes(gl)
    assert note["position"]["new_path"] == "src/requests/utils.py"
    summary = summary_of(gl)["body"]
    assert "Comments GitLab would not place on the diff:" in summary and "`tests/typing/typing_route.py` line 1" in summary
    assert gl.projects[PROJECT].mrs[3].drafts == [] and len(result["unplaced"]) == 1


def test_a_crash_before_publishing_then_a_retry_doubles_nothing_and_leaves_no_draft(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "medium-multi-file.diff")
    mistral.responder = each_file()
    gl.fail_next("POST", r"/bulk_publish$", status=500, body={"message": "500 Internal Server Error"}, times=5)
    code, _, err = review_mr(gl, mistral)
    assert code == 3 and "publish the review" in err  # loud: the review is not there yet
    mr = gl.projects[PROJECT].mrs[3]
    assert len(mr.drafts) >= 2 and diff_notes(gl) == []
    # One draft got published before the crash (a discussion is visible); the others are still pending.
    gl._publish(gl.projects[PROJECT], mr, gl.bot, mr.drafts[0])
    mistral.reset()
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    bodies = [n["body"] for n in diff_notes(gl)]
    prints = [b.split("mistral-review:fp ")[1][:16] for b in bodies]
    assert len(prints) == len(set(prints)) >= 2 and mr.drafts == []


def test_a_lost_answer_to_a_draft_is_found_before_a_retry(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff")
    mistral.responder = each_file()
    gl.fail_next("POST", r"/draft_notes$", status=502, body="502 Bad Gateway", after=True)
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    assert len(diff_notes(gl)) == 1 and len([r for r in gl.requests if r.method == "POST" and r.path.endswith("/draft_notes")]) == 1


def test_a_model_reply_cannot_run_quick_actions(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff")
    mistral.responder = first_added(body="Fine.\n/merge\n  /approve\n/close", suggestion="/approve")
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    assert gl.executed == []
    (note,) = diff_notes(gl)
    assert "\\/merge" in note["body"] and "suggestion" not in note["body"].split("<!--")[0].replace("suggested", "")


def test_a_rate_limit_is_waited_out_and_an_instance_without_bulk_publish_publishes_one_by_one(
        gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "medium-multi-file.diff")
    gl.bulk_publish = False
    gl.rate_limit("GET", r"/diffs$", retry_after=1)
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    assert len(diff_notes(gl)) == len(result["comments"]) >= 2 and gl.projects[PROJECT].mrs[3].drafts == []
    assert len([r for r in gl.requests if r.path.endswith("/publish")]) == len(result["comments"])


def test_without_the_draft_notes_api_each_comment_is_its_own_discussion(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "medium-multi-file.diff")
    gl.drafts_api = False
    mistral.responder = each_file()
    gl.fail_next("POST", r"/discussions$", status=500, body={"message": "500"}, after=True)  # landed, answer lost
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    prints = [n["body"].split("mistral-review:fp ")[1][:16] for n in diff_notes(gl)]
    assert len(prints) == len(set(prints)) == len(result["comments"]) >= 2


def test_diff_refs_not_computed_yet_are_waited_for(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff", null_refs_reads=2)
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and result["status"] == "reviewed", err
    assert len([r for r in gl.requests if r.method == "GET" and r.path.endswith("/merge_requests/3")]) == 3


def test_a_draft_mr_is_skipped(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff", title="Draft: new parser")
    code, result, _ = review_mr(gl, mistral)
    assert code == 0 and result["status"] == "skipped" and mistral.requests == [] and gl.notes(PROJECT, 3) == []


def test_a_ci_job_token_is_refused_in_one_line(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff")
    code, _, err = review_mr(gl, mistral, GITLAB_TOKEN="glcbt-64_abcdef")
    assert code == 2 and err.count("\n") == 1 and "CI job token" in err and "api scope" in err
    code, _, err = review_mr(gl, mistral, GITLAB_TOKEN="glpat-unknown")
    assert code == 3 and "HTTP 401" in err and "api scope" in err and err.count("\n") == 1


def test_the_gitlab_ci_entry_point_reviews_the_pipelines_merge_request(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff")
    mistral.responder = each_file()
    env = {**mr_env(gl, mistral), "CI_MERGE_REQUEST_IID": "3", "CI_PROJECT_ID": "7", "CI_SERVER_URL": gl.url,
           "CI_MERGE_REQUEST_DIFF_BASE_SHA": BASE_SHA, "CI_COMMIT_SHA": HEAD_SHA, "CI_PIPELINE_SOURCE": "merge_request_event"}
    del env["GITLAB_URL"]
    out, err = io.StringIO(), io.StringIO()
    assert main(["gitlab-ci"], env=env, out=out, err=err) == 0, err.getvalue()
    assert len(diff_notes(gl)) == 1 and marker_of(gl)["head"] == HEAD_SHA
    stale = {**env, "CI_COMMIT_SHA": "a" * 40}  # an older pipeline, after a newer push: the newer one reviews
    assert main(["gitlab-ci"], env=stale, out=(out := io.StringIO()), err=err) == 0 and "head is now ccccccc" in out.getvalue()
    fork = {**env, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "99", "GITLAB_TOKEN": ""}
    assert main(["gitlab-ci"], env=fork, out=out, err=(err := io.StringIO())) == 0 and "fork" in err.getvalue()
    assert main(["gitlab-ci"], env={}, out=out, err=(err := io.StringIO())) == 2 and "CI_MERGE_REQUEST_IID" in err.getvalue()


def _numbered(diff: str) -> list[tuple[str, int | None, int | None, str]]:
    """(kind, old, new, text) of each diff line, with the double's numbering."""
    texts = [ln[1:] for ln in diff.split("\n") if ln[:1] in ("+", "-", " ")]
    return [(kind, old, new, text) for (old, new, kind), text in zip(diff_rows(diff), texts)]


def test_added_removed_context_and_range_comments_get_gitlabs_positions(gl: GitLabDouble, mistral: MistralDouble) -> None:
    entries = _open(gl, "medium-multi-file.diff")
    path = "src/flask/helpers.py"
    rows = _numbered(next(e for e in entries if e["new_path"] == path)["diff"])
    removed = next(r for r in rows if r[0] == "-")
    context = next(r for r in rows if r[0] == " ")
    pair = next((a, b) for a, b in zip(rows, rows[1:]) if a[0] == b[0] == "+")
    wanted = [comment(path, removed[1], removed[3], side="LEFT", body="Removed."),
              comment(path, context[2], context[3], body="Context."),
              comment(path, pair[1][2], pair[1][3], start_line=pair[0][2], body="Range.", suggestion="x = 1\ny = 2")]

    def respond(request: dict[str, Any], attempt: int) -> Reply:
        user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        return Reply(json.dumps({"comments": wanted if f"### {path}\n" in user else []}))

    mistral.responder = respond
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and len(result["comments"]) == 3, (err, result)
    by_body = {n["body"].split("\n")[0]: n["position"] for n in diff_notes(gl)}
    assert by_body["**major**: Removed."]["old_line"] == removed[1] and "new_line" not in by_body["**major**: Removed."]
    assert (by_body["**major**: Context."]["old_line"], by_body["**major**: Context."]["new_line"]) == context[1:3]
    ranged = by_body["**major**: Range."]
    assert ranged["new_line"] == pair[1][2] and ranged["line_range"]["start"]["new_line"] == pair[0][2]
    assert ranged["line_range"]["start"]["type"] == "new"
    ranged_note = next(n for n in diff_notes(gl) if n["body"].startswith("**major**: Range."))
    assert "```suggestion:-1+0\nx = 1\ny = 2\n```" in ranged_note["body"]


def test_unplaced_text_cannot_forge_the_summary_marker(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff")
    gl.refused.add(("src/requests/utils.py", None, 1054))
    forged = '<!-- mistral-review:summary {"v":1,"head":"' + HEAD_SHA + '","cost_usd":0} -->'
    mistral.responder = first_added(body=f"Bad. {forged}")
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and len(result["unplaced"]) == 1, (err, result)
    marker = marker_of(gl)
    assert marker["cost_usd"] > 0 and marker["reviews"] == 1
    body = summary_of(gl)["body"]
    assert body.count("mistral-review:summary") == 1 and "**major**: Bad." in body


def _open_collapsed(gl: GitLabDouble) -> None:
    """Open an MR whose one file GitLab collapsed (no diff): the flow diffs its blobs, GitLab cannot place comments."""
    entries = diff_entries("tiny-one-line-fix.diff")
    entries[0].update(diff="", collapsed=True)
    gl.add_mr(PROJECT, 3, diffs=entries, head=HEAD_SHA, base=BASE_SHA)
    files = gl.projects[PROJECT].files
    files[(BASE_SHA, "src/requests/utils.py")] = b"def f():\n    return 1\n"
    files[(HEAD_SHA, "src/requests/utils.py")] = b"def f():\n    return 2\n"


def test_a_collapsed_file_is_diffed_from_its_blobs_and_its_comments_go_to_the_summary(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open_collapsed(gl)
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and result["status"] == "reviewed", err
    assert "return 2" in mistral.user_messages()[0]
    assert diff_notes(gl) == [] and "`src/requests/utils.py` line 2" in summary_of(gl)["body"]
    assert not any(r.method == "POST" and "draft_notes" in r.path for r in gl.requests)


def test_mr_dry_run_posts_nothing_and_calls_no_model(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "medium-multi-file.diff")
    code, plan, err = review_mr(gl, mistral, 3, "--dry-run")
    assert code == 0 and plan["batches"], err
    assert mistral.requests == [] and all(r.method == "GET" for r in gl.requests)
    code, _, err = review_mr(gl, mistral, 3, GITLAB_TOKEN="")
    assert code == 2 and "GITLAB_TOKEN is not set" in err


def test_a_draft_refused_at_publish_goes_into_the_summary_and_the_rest_are_published(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff", "new-file.diff")
    mistral.responder = each_file()
    gl.refused_at_publish.add(("tests/typing/typing_route.py", None, 1))
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and len(result["comments"]) == 1 and len(result["unplaced"]) == 1, err
    (note,) = diff_notes(gl)
    assert note["position"]["new_path"] == "src/requests/utils.py"
    assert "`tests/typing/typing_route.py` line 1" in summary_of(gl)["body"] and gl.projects[PROJECT].mrs[3].drafts == []


def test_lost_answers_to_the_publish_and_the_summary_post_double_nothing(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "medium-multi-file.diff")
    mistral.responder = each_file()
    gl.fail_next("POST", r"/bulk_publish$", status=502, body="502 Bad Gateway", after=True)
    gl.fail_next("POST", r"/merge_requests/3/notes$", status=504, body="504 Gateway Timeout", after=True)
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    assert len(diff_notes(gl)) == len(result["comments"]) >= 2
    assert len([n for n in gl.notes(PROJECT, 3) if n["type"] is None]) == 1 and gl.projects[PROJECT].mrs[3].drafts == []


def test_a_force_push_reviews_the_whole_mr_without_repeating_findings(gl: GitLabDouble, mistral: MistralDouble) -> None:
    entries = _open(gl, "tiny-one-line-fix.diff", "new-file.diff")
    mistral.responder = each_file()
    review_mr(gl, mistral)
    before = len(diff_notes(gl))
    rewritten = "e" * 40
    gl.push(PROJECT, 3, head=rewritten, base=BASE_SHA, diffs=entries)
    gl.projects[PROJECT].compares[(HEAD_SHA, rewritten)] = {
        "commit": {"id": rewritten}, "commits": [{"id": rewritten, "parent_ids": ["f" * 40]}], "diffs": [],
        "compare_timeout": False, "compare_same_ref": False}
    mistral.reset()
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    asked = "".join(mistral.user_messages())
    assert "src/requests/utils.py" in asked and "tests/typing/typing_route.py" in asked
    assert result["status"] == "no-findings" and len(diff_notes(gl)) == before


def test_drafts_left_on_an_older_head_are_replaced_not_published(gl: GitLabDouble, mistral: MistralDouble) -> None:
    entries = _open(gl, "medium-multi-file.diff")
    mistral.responder = each_file()
    gl.fail_next("POST", r"/bulk_publish$", status=503, body="503 Service Unavailable", times=5)
    assert review_mr(gl, mistral)[0] == 3
    new_head = "d" * 40
    gl.push(PROJECT, 3, head=new_head, base=BASE_SHA, diffs=entries)
    mistral.reset()
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and result["unplaced"] == [], err
    notes = diff_notes(gl)
    assert len(notes) == len(result["comments"]) >= 2 and {n["position"]["head_sha"] for n in notes} == {new_head}
    assert gl.projects[PROJECT].mrs[3].drafts == []


HOSTILE = ("See ![t](https://evil.example/t.gif) <img src=x> www.evil.example/login HTTPS://evil.example/x "
           "[gh](https://github.com/acme/platform/api/blob/main/x.py) [up]({own}../../attacker/x) "
           "[enc]({own}%2e%2e/%2E%2E/attacker/y) @admin &#64;all &commat;root \u202edesrever "
           "[own]({own}-/blob/main/x.py) \x000\x00")


def test_comments_gitlab_cannot_place_are_sanitised_like_every_body(gl: GitLabDouble, mistral: MistralDouble) -> None:
    own = f"{gl.url}/{PROJECT}/"  # links are judged against the GitLab instance of the review, not github.com
    _open_collapsed(gl)
    mistral.responder = first_added(body=HOSTILE.format(own=own))
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and len(result["unplaced"]) == 1, err
    body = summary_of(gl)["body"]
    (line,) = [ln for ln in body.split("\n") if ln.startswith("- `src/requests/utils.py` line 2")]
    assert live_problems(line, own) == [] and "\u202e" not in line and "\x00" not in line
    assert f"[own]({own}-/blob/main/x.py)" in line and "`www.evil.example/login`" in line
    assert "github.com" not in line and "attacker" not in line and "evil.example/t.gif" not in line
    shown = [ln for ln in body.split("\n")[:-1] if "mistral-review:gitlab-unplaced" not in ln]
    assert live_problems("\n".join(shown), own) == []


def test_a_nul_placeholder_in_a_reply_is_posted_as_text_on_gitlab(gl: GitLabDouble, mistral: MistralDouble) -> None:
    _open(gl, "tiny-one-line-fix.diff")
    mistral.responder = first_added(body="Bad \x000\x00 and \x001\x00 here.")
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and result["status"] == "reviewed", err
    (note,) = diff_notes(gl)
    assert note["body"].startswith("**major**: Bad 0 and 1 here.") and marker_of(gl)["cost_usd"] > 0


def test_a_comment_on_the_left_side_of_a_context_line_gets_a_position(gl: GitLabDouble, mistral: MistralDouble) -> None:
    entries = _open(gl, "medium-multi-file.diff")
    path = "src/flask/helpers.py"
    rows = _numbered(next(e for e in entries if e["new_path"] == path)["diff"])
    context = next(r for r in rows if r[0] == " " and r[1] != r[2])  # old and new numbers differ: both must be sent
    wanted = [comment(path, context[1], context[3], side="LEFT", body="Old context.")]

    def respond(request: dict[str, Any], attempt: int) -> Reply:
        user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        return Reply(json.dumps({"comments": wanted if f"### {path}\n" in user else []}))

    mistral.responder = respond
    code, result, err = review_mr(gl, mistral)
    assert code == 0 and len(result["comments"]) == 1 and result["unplaced"] == [], (err, result)
    (note,) = diff_notes(gl)
    assert (note["position"]["old_line"], note["position"]["new_line"]) == context[1:3]
    assert "would not place" not in summary_of(gl)["body"]



def test_a_merge_request_blob_over_the_cap_is_listed_and_not_sent(gl: GitLabDouble, mistral: MistralDouble) -> None:
    entries = diff_entries("tiny-one-line-fix.diff") + diff_entries("new-file.diff")
    entries[0].update(diff="", too_large=True)
    gl.add_mr(PROJECT, 3, diffs=entries, head=HEAD_SHA, base=BASE_SHA)
    files = gl.projects[PROJECT].files
    files[(BASE_SHA, "src/requests/utils.py")] = b"x = 1\n" * 400_000
    files[(HEAD_SHA, "src/requests/utils.py")] = b"x = 2\n" * 400_000
    mistral.responder = each_file()
    code, result, err = review_mr(gl, mistral)
    assert code == 0, err
    assert ("src/requests/utils.py", "too-large") in {(s["path"], s["reason"]) for s in result["skipped"]}
    sent = "\n".join(mistral.user_messages())
    assert "x = 2" not in sent and "tests/typing/typing_route.py" in sent
