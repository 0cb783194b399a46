"""The GitHub Action's entry point, run as a subprocess in an emulated Actions environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import UsageError
from bot.hosts.github.client import client_from_env
from tests.conftest import FIXTURES
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.modelreplies import first_added
from tests.pullrequests import bot_env, diff_files

ROOT = Path(__file__).parent.parent
REPO, NUMBER = "Codertocat/Hello-World", 2
FIRST, SECOND = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


@pytest.fixture()
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        double.add_repo(REPO)
        double.add_pull(REPO, NUMBER, base_sha="a" * 40, head_sha=FIRST, files=diff_files("tiny-one-line-fix.diff"))
        yield double
    assert double.schema_errors == [] and double.crashes == []


@pytest.fixture()
def mistral() -> Iterator[MistralDouble]:
    with MistralDouble() as double:
        double.responder = first_added(severity="major")
        yield double
    assert double.schema_errors == []


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """Load a real webhook payload and apply changes given as dotted paths."""
    data = json.loads((FIXTURES / "webhooks" / name).read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return data


def review_comment(gh: GitHubDouble, *, permission: str, **changes: Any) -> dict[str, Any]:
    """Seed a `/review` comment by jakebolam (MEMBER in the real payload) with this permission; return its event."""
    seeded = gh.add_issue_comment(REPO, NUMBER, body="/review", user_login="jakebolam")
    gh.set_permission(REPO, "jakebolam", permission)
    return payload("issue_comment.created.on-pull-request.json", issue__number=NUMBER, comment__body="/review",
                   comment__id=seeded["id"], **changes)


def run_action(tmp_path: Path, gh: GitHubDouble, mistral: MistralDouble, event: str, body: dict[str, Any],
               extra_env: dict[str, str] | None = None, **inputs: str) -> tuple[int, str, dict[str, str], str]:
    """Run `mistral-review action`; return exit code, stdout, outputs and job summary."""
    event_path, output, summary = tmp_path / "event.json", tmp_path / "output", tmp_path / "summary.md"
    event_path.write_text(json.dumps(body))
    output.write_text("")
    summary.write_text("")
    env = {k: v for k, v in bot_env(gh, mistral).items() if k not in ("GITHUB_TOKEN", "MISTRAL_API_KEY")}
    env.update({"PATH": os.environ["PATH"], "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_REPOSITORY": REPO, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_RUN_ID": "4242", "INPUT_GITHUB_TOKEN": "ghp_test", "INPUT_MISTRAL_API_KEY": "test-key",
                "INPUT_FAIL_ON": "none", "INPUT_REVIEW_DRAFTS": "false"})
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    env.update(extra_env or {})
    done = subprocess.run([sys.executable, "-m", "bot.cli", "action"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert "Traceback" not in done.stderr, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done.returncode, done.stdout, outputs, summary.read_text()


def _marker(gh: GitHubDouble) -> dict[str, Any]:
    (comment,) = [c for c in gh.issue_comments(REPO, NUMBER) if "mistral-review:summary" in c["body"]]
    return json.loads(re.search(r"mistral-review:summary (\{.*?\}) sig=", comment["body"])[1])  # type: ignore[index]


def test_a_pr_gets_reviewed_and_the_outputs_and_summary_are_written(tmp_path: Path, gh: GitHubDouble,
                                                                      mistral: MistralDouble) -> None:
    code, out, outputs, summary = run_action(tmp_path, gh, mistral, "pull_request_target",
                                             payload("pull_request.opened.json"))
    assert code == 0, out
    (review,) = gh.reviews(REPO, NUMBER)
    assert outputs["comments"] == "1" and outputs["review_url"] == review["html_url"]
    assert int(outputs["prompt_tokens"]) > 0 and int(outputs["completion_tokens"]) > 0
    assert float(outputs["cost_usd"]) == pytest.approx(
        (int(outputs["prompt_tokens"]) * 0.15 + int(outputs["completion_tokens"]) * 0.6) / 1e6, abs=1e-6)
    rows = {line.split("|")[1].strip(): line for line in summary.splitlines() if line.startswith("| ")}
    assert f"{int(outputs['prompt_tokens']):,}" in rows["Input tokens"]
    assert "Comments: 1 (1 major)" in summary and "::notice::mistral-review: reviewed" in out


def test_a_second_run_on_synchronize_continues_the_spend_from_the_pr_marker(tmp_path: Path, gh: GitHubDouble,
                                                                             mistral: MistralDouble) -> None:
    _, _, first, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"))
    gh.update_pull(REPO, NUMBER, head_sha=SECOND, files=diff_files("tiny-one-line-fix.diff") + diff_files("new-file.diff"))
    gh.set_compare(REPO, FIRST, SECOND, status="ahead", files=diff_files("new-file.diff"))
    code, _, second, summary = run_action(tmp_path, gh, mistral, "pull_request_target",
                                          payload("pull_request.synchronize.json"))
    assert code == 0 and second["comments"] == "1"
    marker = _marker(gh)
    assert marker["head"] == SECOND and marker["reviews"] == 2
    assert marker["prompt_tokens"] == int(first["prompt_tokens"]) + int(second["prompt_tokens"])
    assert f"{marker['prompt_tokens']:,}" in summary  # the job summary shows the PR's running total
    assert "typing_route.py" in mistral.user_messages()[-1] and "utils.py" not in mistral.user_messages()[-1]


def test_a_fork_pr_under_pull_request_gets_a_notice_and_nothing_is_posted(tmp_path: Path, gh: GitHubDouble,
                                                                         mistral: MistralDouble) -> None:
    body = payload("pull_request.opened.json", pull_request__head__repo__full_name="someone/Hello-World")
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request", body, mistral_api_key="")
    assert code == 0 and "comes from a fork" in out and "pull_request_target" in out
    assert outputs["comments"] == "0" and gh.reviews(REPO, NUMBER) == [] and mistral.requests == []


def test_an_unrelated_event_is_a_no_op(tmp_path: Path, gh: GitHubDouble, mistral: MistralDouble) -> None:
    code, out, _, _ = run_action(tmp_path, gh, mistral, "pull_request", payload("pull_request.labeled.json"))
    assert code == 0 and out.startswith("::notice::mistral-review: nothing to do")
    code, out, _, _ = run_action(tmp_path, gh, mistral, "ping", payload("ping.json"))
    assert code == 0 and "ping event is not one" in out and gh.requests == []


def test_a_missing_key_is_an_error_and_exit_2(tmp_path: Path, gh: GitHubDouble, mistral: MistralDouble) -> None:
    code, out, _, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"),
                                 mistral_api_key="")
    assert code == 2 and out.startswith("::error::") and "mistral_api_key" in out and len(out.splitlines()) == 1


def test_a_model_input_without_a_price_is_an_error_before_any_api_call(tmp_path: Path, gh: GitHubDouble,
                                                                       mistral: MistralDouble) -> None:
    code, out, _, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"),
                                 model="my-finetune")
    assert code == 2 and out.startswith("::error::") and "'my-finetune' has no built-in price" in out
    assert len(out.splitlines()) == 1 and gh.requests == [] and mistral.requests == []


def test_fail_on_met_exits_1_after_posting(tmp_path: Path, gh: GitHubDouble, mistral: MistralDouble) -> None:
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target",
                                       payload("pull_request.opened.json"), fail_on="major")
    assert code == 1 and "::error::" in out and outputs["comments"] == "1" and len(gh.reviews(REPO, NUMBER)) == 1


def test_a_review_command_needs_write_access_and_gets_eyes(tmp_path: Path, gh: GitHubDouble,
                                                           mistral: MistralDouble) -> None:
    comment = review_comment(gh, permission="read")
    code, out, _, _ = run_action(tmp_path, gh, mistral, "issue_comment", comment)
    assert code == 0 and "no write access" in out and gh.reviews(REPO, NUMBER) == []
    gh.set_permission(REPO, "jakebolam", "write")
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "issue_comment", comment)
    assert code == 0 and outputs["comments"] == "1", out
    assert [r["content"] for r in gh.reactions] == ["eyes"]


@pytest.mark.parametrize("association", ["CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE"])
def test_a_review_command_from_an_outsider_is_refused_before_anything_happens(tmp_path: Path, gh: GitHubDouble,
                                                                             mistral: MistralDouble,
                                                                             association: str) -> None:
    comment = review_comment(gh, permission="write", comment__author_association=association)  # checked first
    code, out, outputs, summary = run_action(tmp_path, gh, mistral, "issue_comment", comment)
    assert code == 0 and out.startswith("::notice::") and f"GitHub says {association}" in out
    assert outputs["comments"] == "0" and outputs["cost_usd"] == "0.000000" and outputs["coverage"] == "not-run"
    assert gh.requests == [] and mistral.requests == [] and summary == ""


def test_a_failed_eyes_reaction_is_a_warning_and_the_review_still_runs(tmp_path: Path, gh: GitHubDouble,
                                                                       mistral: MistralDouble) -> None:
    comment = review_comment(gh, permission="admin")
    gh.fail_next("POST", r"/reactions$", status=403, body={"message": "Resource not accessible by integration"})
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "issue_comment", comment)
    assert code == 0 and "::warning::mistral-review: could not add the 👀 reaction" in out
    assert outputs["comments"] == "1" and len(gh.reviews(REPO, NUMBER)) == 1 and gh.reactions == []


def test_failed_batches_exit_3_and_say_which_files_were_not_reviewed(tmp_path: Path, gh: GitHubDouble,
                                                                     mistral: MistralDouble) -> None:
    mistral.responder = lambda body, attempt: Reply(status=500)
    code, out, outputs, summary = run_action(tmp_path, gh, mistral, "pull_request_target",
                                             payload("pull_request.opened.json"),
                                             extra_env={"MISTRAL_REVIEW_RETRY_ATTEMPTS": "2"})
    assert code == 3 and "::warning::mistral-review: Review failed: 1 of 1 batches failed" in out
    assert "::notice::mistral-review: failed: 0 comment(s)" in out and "Result: **failed**" in summary
    assert (outputs["coverage"], outputs["failed_batches"], outputs["unreviewed_files"]) == ("failed", "1", "1")
    assert "**Review failed: 1 of 1 batches failed**" in summary and "- `src/requests/utils.py`: model-failed" in summary
    assert "Reviewed: 0 of 2 changed lines, 0 of 1 batch(es) answered." in summary
    assert gh.reviews(REPO, NUMBER) == [] and len(mistral.requests) == 2


def test_nothing_reviewed_is_said_and_fails_the_check_only_when_asked(tmp_path: Path, gh: GitHubDouble,
                                                                       mistral: MistralDouble) -> None:
    code, out, outputs, summary = run_action(tmp_path, gh, mistral, "pull_request_target",
                                             payload("pull_request.opened.json"), budget_usd="0.0001", fail_on="nit")
    assert code == 0 and outputs["coverage"] == "nothing" and mistral.requests == []
    assert "Nothing was reviewed: the pull request's budget is spent." in summary
    assert "::warning::mistral-review: Nothing was reviewed" in out
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target",
                                       payload("pull_request.opened.json"), budget_usd="0.0001",
                                       fail_on_unreviewed="true")
    assert code == 1 and "::error::mistral-review: changed lines were not reviewed" in out
    assert outputs["coverage"] == "nothing" and mistral.requests == []


def test_a_repo_file_may_pick_an_allowed_priced_model_and_the_outputs_name_it(tmp_path: Path, gh: GitHubDouble,
                                                                              mistral: MistralDouble) -> None:
    gh.set_content(REPO, "a" * 40, ".github/mistral-review.toml", 'model = "mistral-large-2512"\n')
    code, _, outputs, summary = run_action(tmp_path, gh, mistral, "pull_request_target",
                                           payload("pull_request.opened.json"),
                                           allowed_models="mistral-small-2603, mistral-large-2512")
    assert code == 0 and outputs["model"] == "mistral-large-2512" and "model `mistral-large-2512`" in summary
    assert [b["model"] for b in mistral.bodies()] == ["mistral-large-2512"]
    assert float(outputs["cost_usd"]) == pytest.approx(  # Large 3's list price, not Small 4's
        (int(outputs["prompt_tokens"]) * 0.50 + int(outputs["completion_tokens"]) * 1.50) / 1e6, abs=1e-6)


def test_a_repo_model_the_workflow_does_not_allow_gets_the_default_and_a_warning(tmp_path: Path, gh: GitHubDouble,
                                                                                 mistral: MistralDouble) -> None:
    gh.set_content(REPO, "a" * 40, ".github/mistral-review.toml", 'model = "mistral-large-2512"\n')
    code, _, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"))
    assert code == 0 and outputs["model"] == "mistral-small-2603"
    assert [b["model"] for b in mistral.bodies()] == ["mistral-small-2603"]
    (comment,) = [c for c in gh.issue_comments(REPO, NUMBER) if "mistral-review:summary" in c["body"]]
    assert "model 'mistral-large-2512' is not one the operator allows" in comment["body"]


def test_a_base_change_reviews_the_head_again_but_a_skip_label_still_wins(tmp_path: Path, gh: GitHubDouble,
                                                                           mistral: MistralDouble) -> None:
    run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"))
    edited = payload("pull_request.opened.json", action="edited",
                     changes={"base": {"ref": {"from": "develop"}, "sha": {"from": "b" * 40}}})
    code, _, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target", edited)
    assert code == 0 and len(mistral.requests) == 2 and outputs["coverage"] == "complete"  # not "up to date"
    gh.update_pull(REPO, NUMBER, labels=["no-ai-review"])
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target", edited)
    assert code == 0 and "skipped" in out and outputs["coverage"] == "not-run" and len(mistral.requests) == 2
    titled = payload("pull_request.opened.json", action="edited", changes={"title": {"from": "Old"}})
    code, out, _, _ = run_action(tmp_path, gh, mistral, "pull_request_target", titled)
    assert code == 0 and "needs no review" in out


def test_the_readmes_workflow_queues_runs_and_starts_only_for_trusted_review_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    workflow = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "cancel-in-progress: false" in workflow and "cancel-in-progress: true" not in workflow
    assert "contains(fromJSON('[\"OWNER\", \"MEMBER\", \"COLLABORATOR\"]'), github.event.comment.author_association)" \
        in workflow
    assert "github.event.changes.base" in workflow  # an edit starts a job only when the base changed
    from bot.action import TRUSTED_ASSOCIATIONS

    assert TRUSTED_ASSOCIATIONS == {"OWNER", "MEMBER", "COLLABORATOR"}


def test_every_declared_input_is_read_and_every_output_written() -> None:
    text = (ROOT / "action.yml").read_text()
    inputs = re.findall(r"^  (\w+):\n    description", text.split("\noutputs:")[0], flags=re.M)
    outputs = re.findall(r"^  (\w+):\n    description", text.split("\noutputs:")[1], flags=re.M)
    source = (ROOT / "bot" / "action.py").read_text()
    from bot.action import SETTING_INPUTS, outputs_text

    for name in inputs:
        assert name in SETTING_INPUTS or f'read_input(env, "{name}")' in source, name
    assert [line.split("=")[0] for line in outputs_text(None).splitlines()] == outputs
    assert 'using: "composite"' in text and "-m bot.cli action" in text  # tests/test_shipping.py checks the steps


def test_the_dockerfile_installs_the_package_and_runs_the_cli() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    stages: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("FROM "):
            stages[line.split()[-1]] = current = [line]
        else:
            current.append(line)
    assert list(stages) == ["base", "server", "cli"]  # the last stage: the command line, the GitLab CI job's image
    assert stages["base"][0].startswith("FROM python:3.") and stages["base"][0].split()[1].endswith("-slim")
    assert 'ENTRYPOINT ["mistral-review"]' in stages["base"]
    assert not any(ln.startswith("USER ") for ln in lines)  # CI workspaces belong to root
    assert {"bot", "prompts", "pyproject.toml"} <= {ln.split()[1] for ln in stages["base"] if ln.startswith("COPY ")}
    assert "RUN pip install ." in stages["cli"]  # no server libraries
    assert any(ln.startswith("RUN pip install '.[server]'") for ln in stages["server"])  # serve's extra
    assert 'CMD ["serve", "--host", "0.0.0.0"]' in stages["server"]
    assert any("MISTRAL_REVIEW_RUN_AS=nobody" in ln for ln in stages["server"])  # the server drops root itself


# ---------------------------------------------------------------- who the bot is (identity)

APP_LOGIN, APP_TOKEN = "acme-reviewer[bot]", "ghs_" + "a" * 36
THIRD = "3" * 40


def _as_app(gh: GitHubDouble) -> None:
    """Post as a GitHub App's bot; the double refuses /user to its ghs_ token, as GitHub does."""
    gh.bot_login = APP_LOGIN


def _refuse_graphql(gh: GitHubDouble) -> None:
    gh.fail_next("POST", r"^/graphql$", status=403, times=100,
                 body={"message": "Resource not accessible by integration", "documentation_url": "https://docs"})


def _three_pushes(tmp_path: Path, gh: GitHubDouble, mistral: MistralDouble, **inputs: str) -> list[int]:
    """Open, push a new file, then force-push; return the three exit codes."""
    codes = [run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"), **inputs)[0]]
    both = diff_files("tiny-one-line-fix.diff") + diff_files("new-file.diff")
    gh.update_pull(REPO, NUMBER, head_sha=SECOND, files=both)
    gh.set_compare(REPO, FIRST, SECOND, status="ahead", files=diff_files("new-file.diff"))
    codes.append(run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.synchronize.json"),
                            **inputs)[0])
    gh.update_pull(REPO, NUMBER, head_sha=THIRD, files=both)
    gh.set_compare(REPO, SECOND, THIRD, status="diverged", files=[])  # a force-push: everything again
    codes.append(run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.synchronize.json"),
                            **inputs)[0])
    return codes


def _assert_one_summary_and_no_repeats(gh: GitHubDouble) -> None:
    summaries = [c for c in gh.issue_comments(REPO, NUMBER) if "mistral-review:summary" in c["body"]]
    assert len(summaries) == 1 and '"reviews":2' in summaries[0]["body"].replace(" ", "")
    assert THIRD in summaries[0]["body"]  # the marker's last head: the third push was seen, not reviewed afresh
    places = [(c["path"], c["line"]) for c in gh.review_comments(REPO, NUMBER)]
    assert len(places) == 2 and len(set(places)) == 2, places


def test_an_app_token_with_bot_login_finds_its_own_summary_across_three_pushes(tmp_path: Path, gh: GitHubDouble,
                                                                                mistral: MistralDouble) -> None:
    _as_app(gh)
    _refuse_graphql(gh)  # GitHub tells nothing about this token: only bot_login says who the bot is
    assert _three_pushes(tmp_path, gh, mistral, github_token=APP_TOKEN, bot_login=APP_LOGIN) == [0, 0, 0]
    _assert_one_summary_and_no_repeats(gh)


def test_an_app_token_is_recognised_through_the_graphql_viewer(tmp_path: Path, gh: GitHubDouble,
                                                              mistral: MistralDouble) -> None:
    _as_app(gh)
    assert _three_pushes(tmp_path, gh, mistral, github_token=APP_TOKEN) == [0, 0, 0]
    _assert_one_summary_and_no_repeats(gh)
    user = [r for r in gh.requests if r.path == "/user"]
    assert user and all(r.headers.get("Authorization", "").endswith(APP_TOKEN) for r in user)


def test_an_app_token_whose_login_cannot_be_known_is_an_error_and_posts_nothing(tmp_path: Path, gh: GitHubDouble,
                                                                               mistral: MistralDouble) -> None:
    _as_app(gh)
    _refuse_graphql(gh)
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target",
                                       payload("pull_request.opened.json"), github_token=APP_TOKEN)
    assert code == 2 and "::error::" in out and "bot_login" in out
    assert gh.reviews(REPO, NUMBER) == [] and gh.issue_comments(REPO, NUMBER) == [] and mistral.requests == []
    assert outputs == {}
    # a /review command is not even acknowledged with 👀 before the bot knows who it is
    comment = gh.add_issue_comment(REPO, NUMBER, body="/review", user_login="octocat")
    gh.set_permission(REPO, "octocat", "write")
    body = payload("issue_comment.created.on-pull-request.json", issue__number=NUMBER, comment__body="/review",
                   comment__id=comment["id"])
    code, out, _, _ = run_action(tmp_path, gh, mistral, "issue_comment", body, github_token=APP_TOKEN)
    assert code == 2 and "::error::" in out and gh.reactions == []


def test_a_bot_login_that_contradicts_github_is_an_error(tmp_path: Path, gh: GitHubDouble,
                                                        mistral: MistralDouble) -> None:
    _as_app(gh)
    code, out, _, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"),
                                 github_token=APP_TOKEN, bot_login="someone-else[bot]")
    assert code == 2 and "someone-else[bot]" in out and APP_LOGIN in out
    assert gh.reviews(REPO, NUMBER) == [] and gh.issue_comments(REPO, NUMBER) == []


def test_a_malformed_bot_login_is_refused() -> None:
    with pytest.raises(UsageError, match="not a GitHub login"):
        client_from_env({"GITHUB_TOKEN": APP_TOKEN, "MISTRAL_REVIEW_BOT_LOGIN": "x<!-- y -->"})


def test_the_marker_key_input_signs_the_state_and_another_key_cannot_read_it(tmp_path: Path, gh: GitHubDouble,
                                                                             mistral: MistralDouble) -> None:
    run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.opened.json"), marker_key="k1")
    gh.update_pull(REPO, NUMBER, head_sha=SECOND, files=diff_files("tiny-one-line-fix.diff"))
    gh.set_compare(REPO, FIRST, SECOND, status="ahead", files=[])
    code, _, _, _ = run_action(tmp_path, gh, mistral, "pull_request_target", payload("pull_request.synchronize.json"),
                               marker_key="k2")
    (comment,) = [c for c in gh.issue_comments(REPO, NUMBER) if "mistral-review:summary" in c["body"]]
    assert code == 0 and "signature does not match" in comment["body"] and _marker(gh)["head"] == SECOND
    assert "utils.py" in mistral.user_messages()[-1]  # nothing remembered under another key: the whole PR again


def test_a_review_that_cannot_be_posted_books_its_spend_in_the_marker_and_exits_3(tmp_path: Path, gh: GitHubDouble,
                                                                                  mistral: MistralDouble) -> None:
    usage = {"prompt_tokens": 4000, "completion_tokens": 3500, "total_tokens": 7500}  # $0.0027
    mistral.responder = lambda body, attempt: Reply(first_added()(body, attempt).content, usage=usage)
    gh.fail_next("POST", r"/pulls/2/reviews$", status=500, times=1_000)
    tight = {"INPUT_BUDGET_USD": "0.003"}
    code, out, outputs, summary = run_action(tmp_path, gh, mistral, "pull_request_target",
                                             payload("pull_request.opened.json"), extra_env=tight)
    assert code == 3 and "::error::mistral-review: posting the review failed (" in out
    assert outputs["cost_usd"] == "0.002700" and outputs["comments"] == "0" and "Result: **post-failed**" in summary
    assert _marker(gh)["cost_usd"] == pytest.approx(0.0027) and gh.reviews(REPO, NUMBER) == []
    code, out, outputs, _ = run_action(tmp_path, gh, mistral, "pull_request_target",
                                       payload("pull_request.opened.json"), extra_env=tight)
    assert code == 0 and "budget-exhausted" in out and len(mistral.requests) == 1
    assert _marker(gh)["cost_usd"] == pytest.approx(0.0027)
