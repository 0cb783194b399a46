"""Where a repo keeps its settings: `.mistral-review.toml` at the root first, then `.github/`, then `.gitlab/`,
read from the base branch on both hosts and in a local review; the first found wins and the summary says so."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.doubles.github import GitHubDouble
from tests.doubles.gitlab import GitLabDouble
from tests.doubles.mistral import MistralDouble
from tests.mergerequests import BASE_SHA as MR_BASE
from tests.mergerequests import HEAD_SHA as MR_HEAD
from tests.mergerequests import PROJECT, opened_mr, review_mr, summary_of
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, HEAD_SHA, REPO, diff_files, open_pull, review_pr

SMALL, LARGE = "mistral-small-2603", "mistral-large-2512"
ALLOWED = {"MISTRAL_REVIEW_ALLOWED_MODELS": f"{SMALL},{LARGE}"}
ROOT, GITHUB, GITLAB = ".mistral-review.toml", ".github/mistral-review.toml", ".gitlab/mistral-review.toml"


def _pick(model: str) -> str:
    return f'model = "{model}"\n'


def _github_summary(gh: GitHubDouble) -> str:
    return str(next(c for c in gh.issue_comments(REPO, 7) if "mistral-review:summary" in c["body"])["body"])


@pytest.fixture()
def gl() -> Iterator[GitLabDouble]:
    with opened_mr("tiny-one-line-fix.diff") as double:
        yield double


def test_on_github_the_root_file_wins_over_github_and_the_summary_names_both(gh: GitHubDouble,
                                                                              mistral: MistralDouble) -> None:
    gh.set_content(REPO, BASE_SHA, ROOT, _pick(LARGE))
    gh.set_content(REPO, BASE_SHA, GITHUB, _pick(SMALL) + "max_comments = 1\n")
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = first_added()
    code, result = review_pr(gh, mistral, **ALLOWED)
    assert code == 0 and result["model"] == LARGE and [b["model"] for b in mistral.bodies()] == [LARGE]
    assert f"{ROOT} was used and {GITHUB} ignored" in _github_summary(gh)


def test_on_github_the_github_folder_still_works_and_names_itself_in_its_problems(gh: GitHubDouble,
                                                                                  mistral: MistralDouble) -> None:
    gh.set_content(REPO, BASE_SHA, GITHUB, _pick(LARGE) + 'colour = "blue"\n')
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = first_added()
    code, result = review_pr(gh, mistral, **ALLOWED)
    summary = _github_summary(gh)
    assert code == 0 and result["model"] == LARGE
    assert f"{GITHUB}: unknown key 'colour' ignored" in summary and "ignored: the first of" not in summary


def test_a_root_file_only_on_the_head_branch_is_not_read(gh: GitHubDouble, mistral: MistralDouble) -> None:
    gh.set_content(REPO, HEAD_SHA, ROOT, _pick(LARGE))
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = first_added()
    code, result = review_pr(gh, mistral, **ALLOWED)
    assert code == 0 and result["model"] == SMALL


@pytest.mark.parametrize("where", [GITLAB, GITHUB, ROOT])
def test_on_gitlab_each_location_is_read_from_the_target_branch(gl: GitLabDouble, mistral: MistralDouble,
                                                                where: str) -> None:
    gl.projects[PROJECT].files[(MR_BASE, where)] = _pick(LARGE).encode()
    gl.projects[PROJECT].files[(MR_HEAD, ROOT)] = _pick(SMALL).encode()  # the source branch's file is never read
    mistral.responder = first_added()
    code, result, err = review_mr(gl, mistral, **ALLOWED)
    assert code == 0 and result["model"] == LARGE and [b["model"] for b in mistral.bodies()] == [LARGE], err
    assert "ignored" not in summary_of(gl)["body"]


def test_on_gitlab_the_root_file_wins_over_both_folders(gl: GitLabDouble, mistral: MistralDouble) -> None:
    files = gl.projects[PROJECT].files
    files[(MR_BASE, ROOT)] = _pick(LARGE).encode()
    files[(MR_BASE, GITHUB)] = files[(MR_BASE, GITLAB)] = _pick(SMALL).encode()
    mistral.responder = first_added()
    code, result, err = review_mr(gl, mistral, **ALLOWED)
    assert code == 0 and result["model"] == LARGE, err
    assert f"{ROOT} was used and {GITHUB}, {GITLAB} ignored" in summary_of(gl)["body"]


def test_a_local_review_reads_the_root_file_first(tmp_path: Path, mistral: MistralDouble,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(tmp_path)], check=True)
    (tmp_path / ".github").mkdir()
    (tmp_path / ROOT).write_text(_pick(LARGE))
    (tmp_path / GITHUB).write_text(_pick(SMALL))
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=tmp_path, check=True)
    subprocess.run([*git, "checkout", "-qb", "feature"], cwd=tmp_path, check=True)
    (tmp_path / "app.py").write_text("value = 1\n")
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "change"], cwd=tmp_path, check=True)
    mistral.responder = first_added()
    out, err = io.StringIO(), io.StringIO()
    env = {"MISTRAL_API_KEY": "k", "MISTRAL_SERVER_URL": mistral.url, **ALLOWED}
    monkeypatch.chdir(tmp_path)
    code = main(["review", "--base", "main"], env=env, out=out, err=err)
    assert code == 0 and [b["model"] for b in mistral.bodies()] == [LARGE], err.getvalue()
    assert f"warning: {ROOT} was used and {GITHUB} ignored" in err.getvalue()
