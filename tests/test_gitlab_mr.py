"""Merge requests end to end: real python-gitlab and mistralai against the GitLab and Mistral doubles over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.gitlab import GitLabDouble
from tests.doubles.mistral import MistralDouble
from tests.mergerequests import BASE_SHA, HEAD_SHA, PROJECT, diff_entries, diff_notes, marker_of, review_mr, summary_of
from tests.modelreplies import first_added


@pytest.fixture()
def gl() -> Iterator[GitLabDouble]:
    with GitLabDouble() as double:
        double.add_project(PROJECT)
        yield double
    assert double.crashes == []


@pytest.fixture()
def mistral() -> Iterator[MistralDouble]:
    with MistralDouble() as double:
        yield double
    assert double.schema_errors == []


def test_an_opened_mr_gets_one_set_of_discussions_and_one_summary_note(gl: GitLabDouble, mistral: MistralDouble) -> None:
    gl.add_mr(PROJECT, 3, diffs=diff_entries("medium-multi-file.diff"), head=HEAD_SHA, base=BASE_SHA)
    mistral.responder = first_added(severity="major", suggestion="    pass")
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
