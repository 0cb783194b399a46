"""`mistral-review review` against the Mistral double over real HTTP, driven by the real SDK."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.core.errors import ModelError
from bot.llm.mistral import MistralModel
from bot.retry import RetryPolicy
from tests.conftest import FIXTURES
from tests.doubles.mistral import MistralDouble, Reply
from tests.modelreplies import added_lines, comment, first_added

TINY = str(FIXTURES / "diffs" / "tiny-one-line-fix.diff")
MEDIUM = str(FIXTURES / "diffs" / "medium-multi-file.diff")


def _env(double: MistralDouble, **extra: str) -> dict[str, str]:
    return {"MISTRAL_API_KEY": "test-key", "MISTRAL_SERVER_URL": double.url, "MISTRAL_REVIEW_RETRY_MAX_WAIT_S": "0.01",
            "MISTRAL_REVIEW_TIMEOUT_S": "5", **extra}


def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, env=env, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _json(args: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    code, out, _ = _run([*args, "--format", "json"], env)
    return code, json.loads(out)


def test_a_good_reply_becomes_an_anchored_comment_with_its_cost(mistral: MistralDouble) -> None:
    mistral.responder = first_added(severity="major", suggestion="fixed line")
    code, result = _json(["review", "--diff-file", TINY], _env(mistral))
    assert code == 0
    (posted,) = result["comments"]
    assert (posted["path"], posted["side"], posted["severity"], posted["suggestion"]) == \
        ("src/requests/utils.py", "RIGHT", "major", "fixed line")
    request = mistral.bodies()[0]
    assert request["model"] == "mistral-small-2603" and request["max_tokens"] == 4000
    assert request["reasoning_effort"] == "none" and request["response_format"]["type"] == "json_schema"
    billed = result["usage"]
    assert billed["prompt_tokens"] > 0 and billed["cost_usd"] == pytest.approx(
        (billed["prompt_tokens"] * 0.15 + billed["completion_tokens"] * 0.60) / 1e6, abs=1e-6)


def test_text_output_groups_comments_by_file(mistral: MistralDouble) -> None:
    mistral.responder = first_added(severity="critical")
    code, out, err = _run(["review", "--diff-file", TINY], _env(mistral))
    assert code == 0
    assert out.splitlines()[0] == "src/requests/utils.py" and "[critical]" in out
    assert "1 comment(s) (1 critical)" in out and "batch(es) done" in err


def test_an_unreadable_reply_is_retried_as_two_halves_of_its_batch(mistral: MistralDouble) -> None:
    calls = iter(["{not json", None])

    def respond(body: dict[str, Any], attempt: int) -> Reply:
        bad = next(calls, None)
        return Reply(bad) if bad else first_added()(body, attempt)

    mistral.responder = respond
    code, result = _json(["review", "--diff-file", MEDIUM], _env(mistral, MISTRAL_REVIEW_CONCURRENCY="1",
                                                                 MISTRAL_REVIEW_REQUEST_TOKENS="8000"))
    assert code == 0 and len(result["batches"]) > 2 and result["dropped"] == []
    assert len(mistral.requests) == len(result["batches"]) + 2  # the unreadable one, then its two halves
    first, half_a, half_b = mistral.user_messages()[:3]
    assert sorted(added_lines({"messages": [{"role": "user", "content": first}]})) == sorted(
        added_lines({"messages": [{"role": "user", "content": half_a}]})
        + added_lines({"messages": [{"role": "user", "content": half_b}]}))
    assert len(result["comments"]) == len(result["batches"]) + 1  # one per request that was answered


def test_comments_outside_the_batch_are_dropped_and_an_off_by_two_quote_is_reanchored(mistral: MistralDouble) -> None:
    def respond(body: dict[str, Any], attempt: int) -> Reply:
        path, line, text = added_lines(body)[0]
        return Reply(json.dumps({"comments": [
            comment(path, line, text, offset=2, body="Off by two."),
            comment(path, 4000, "nowhere", body="Outside."),
            comment("other/file.py", 1, "x", body="Other file."),
        ]}))

    mistral.responder = respond
    code, result = _json(["review", "--diff-file", TINY], _env(mistral))
    (kept,) = result["comments"]
    added = next(ln for ln in open(TINY).read().splitlines() if ln.startswith("+") and not ln.startswith("+++"))
    assert kept["body"] == "Off by two." and kept["line"] == _added_line_number(TINY)
    assert {d["reason"] for d in result["dropped"]} == {"line_not_in_diff", "path_not_in_batch"}
    assert added  # the fixture really has an added line


def _added_line_number(path: str) -> int:
    from bot.core.diff import parse_diff

    (file,) = parse_diff(Path(path).read_bytes())
    return next(ln.line for h in file.hunks for ln in h.lines if ln.kind.value == "+")


def test_429_with_retry_after_then_success(mistral: MistralDouble) -> None:
    mistral.queue(Reply(status=429, headers={"Retry-After": "7"}))
    waits: list[float] = []
    model = MistralModel(api_key="k", model="mistral-small-2603", server_url=mistral.url,
                         policy=RetryPolicy(attempts=3, max_wait_s=30), sleep=waits.append)
    reply = model.complete("s", "u", max_tokens=100, schema={"type": "object"})
    assert waits == [7.0] and len(mistral.requests) == 2 and reply.prompt_tokens is not None
    capped: list[float] = []
    mistral.queue(Reply(status=429, headers={"Retry-After": "600"}))
    MistralModel(api_key="k", model="m", server_url=mistral.url, policy=RetryPolicy(max_wait_s=2),
                 sleep=capped.append).complete("s", "u", max_tokens=10, schema={})
    assert capped == [2.0]


def test_500s_until_retries_run_out_keep_the_other_batches(mistral: MistralDouble) -> None:
    failing = {"n": 0}

    def respond(body: dict[str, Any], attempt: int) -> Reply:
        if any(p == "src/flask/app.py" for p, _, _ in added_lines(body)):
            failing["n"] += 1
            return Reply(status=500)
        return first_added()(body, attempt)

    mistral.responder = respond
    code, result = _json(["review", "--diff-file", MEDIUM],
                         _env(mistral, MISTRAL_REVIEW_REQUEST_TOKENS="8000", MISTRAL_REVIEW_RETRY_ATTEMPTS="3"))
    assert code == 3  # partly done
    failed = [b for b in result["batches"] if b["status"] == "failed"]
    assert len(failed) == 1 and "src/flask/app.py" in failed[0]["files"] and "3 attempt(s)" in failed[0]["error"]
    assert failing["n"] == 3 and len(result["comments"]) == len(result["batches"]) - 1
    code, out, _ = _run(["review", "--diff-file", MEDIUM],
                        _env(mistral, MISTRAL_REVIEW_REQUEST_TOKENS="8000", MISTRAL_REVIEW_RETRY_ATTEMPTS="2"))
    assert code == 3 and "failed" in out and "HTTP 500" in out


def test_a_reply_slower_than_the_timeout_is_retried_then_reported() -> None:
    with MistralDouble() as slow:
        slow.responder = lambda body, attempt: Reply(delay=1.5)
        model = MistralModel(api_key="k", model="m", server_url=slow.url, timeout_s=0.3,
                             policy=RetryPolicy(attempts=2), sleep=lambda s: None)
        with pytest.raises(ModelError, match="after 2 attempt"):
            model.complete("s", "u", max_tokens=10, schema={})
        assert len(slow.requests) == 2


def test_usage_missing_from_a_self_hosted_server_is_estimated(mistral: MistralDouble) -> None:
    mistral.responder = lambda body, attempt: Reply(omit_usage=True)
    code, result = _json(["review", "--diff-file", TINY], _env(mistral, MISTRAL_REVIEW_PRICE_INPUT="0",
                                                               MISTRAL_REVIEW_PRICE_OUTPUT="0"))
    assert code == 0 and result["usage"]["estimated"] is True and result["usage"]["prompt_tokens"] > 0
    assert result["usage"]["cost_usd"] == 0


def test_fail_on_sets_exit_code_1(mistral: MistralDouble) -> None:
    mistral.responder = first_added(severity="critical")
    assert _run(["review", "--diff-file", TINY, "--fail-on", "major"], _env(mistral))[0] == 1
    assert _run(["review", "--diff-file", TINY, "--fail-on", "critical"], _env(mistral))[0] == 1
    mistral.responder = first_added(severity="minor")
    assert _run(["review", "--diff-file", TINY, "--fail-on", "major"], _env(mistral))[0] == 0


def test_dry_run_plans_without_calling_the_model(mistral: MistralDouble) -> None:
    code, plan = _json(["review", "--diff-file", MEDIUM, "--dry-run"], _env(mistral))
    assert code == 0 and mistral.requests == []
    assert plan["changed_lines"] == plan["covered_lines"] == 580 and plan["masked_secrets"] == 0
    assert plan["max_cost_usd"] == pytest.approx(
        sum(b["input_tokens"] for b in plan["batches"]) * 0.15e-6 + 4000 * 0.6e-6 * len(plan["batches"]), abs=1e-6)


def _cli(*args: str, env: dict[str, str], stdin: bytes | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin.decode() if stdin else None,
                          env={**base, **env}, capture_output=True, text=True, cwd=cwd,
                          timeout=60)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["review", "--diff-file", TINY], {}, "MISTRAL_API_KEY is not set"),
    (["review", "--diff-file", "/no/such.diff"], {"MISTRAL_API_KEY": "k"}, "cannot read /no/such.diff"),
    (["review", "--diff-file", "-"], {"MISTRAL_API_KEY": "k"}, "not a unified diff"),
    (["review", "--bogus"], {}, "unrecognized arguments"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], env: dict[str, str], message: str) -> None:
    done = _cli(*args, env=env, stdin=b"this is not a diff\n")
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_reviews_the_current_branch_against_its_base(tmp_path: Path, mistral: MistralDouble) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(tmp_path)], check=True)
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / ".github").mkdir()
    config = tmp_path / ".github" / "mistral-review.toml"
    config.write_text('max_comments = 5\ncolour = "blue"\n')
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=tmp_path, check=True)
    subprocess.run([*git, "checkout", "-qb", "feature"], cwd=tmp_path, check=True)
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a - b\n")
    config.write_text('max_comments = 0\n')  # the branch tries to silence the review: the base's file wins
    (tmp_path / "uncommitted.py").write_text("x = 1\n")
    subprocess.run([*git, "commit", "-qam", "change"], cwd=tmp_path, check=True)
    def on_app(body: dict[str, Any], attempt: int) -> Reply:
        path, line, text = next(a for a in added_lines(body) if a[0] == "app.py")
        return Reply(json.dumps({"comments": [comment(path, line, text)]}))

    mistral.responder = on_app
    done = _cli("review", "--format", "json", env=_env(mistral), cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    (posted,) = json.loads(done.stdout)["comments"]
    assert (posted["path"], posted["line"]) == ("app.py", 2)
    assert "unknown key 'colour'" in done.stderr and "At most 5 comments" in mistral.user_messages()[0]
    missing = _cli("review", "--base", "nope", env=_env(mistral), cwd=str(tmp_path))
    assert missing.returncode == 2 and "base ref 'nope' not found" in missing.stderr


def test_every_batch_failing_is_review_failed_never_no_problems_found(mistral: MistralDouble) -> None:
    mistral.responder = lambda body, attempt: Reply(status=500)
    env = _env(mistral, MISTRAL_REVIEW_REQUEST_TOKENS="8000", MISTRAL_REVIEW_RETRY_ATTEMPTS="1")
    code, out, _ = _run(["review", "--diff-file", MEDIUM, "--fail-on", "major"], env)
    batches = len(mistral.requests)
    assert code == 3 and batches > 2 and "No problems found" not in out
    assert f"Review failed: {batches} of {batches} batches failed" in out
    tail = out.splitlines()
    assert tail[-1] == "dropped comments: 0" and "  src/flask/app.py (model-failed)" in tail
    assert f"reviewed: 0 of 580 changed lines, 0 of {batches} batch(es) answered" in out
    code, result = _json(["review", "--diff-file", MEDIUM], env)
    assert code == 3 and result["coverage"]["state"] == "failed" and result["coverage"]["reviewed_lines"] == 0
    assert len(result["coverage"]["failed_batches"]) == batches


def test_nothing_reviewed_over_budget_says_so_and_fails_only_when_asked(mistral: MistralDouble) -> None:
    env = _env(mistral, MISTRAL_REVIEW_BUDGET_USD="0.0001")
    code, out, _ = _run(["review", "--diff-file", TINY, "--fail-on", "nit"], env)
    assert code == 0 and mistral.requests == [] and "No problems found" not in out
    assert "Nothing was reviewed: no batch fits the budget left." in out
    assert out.splitlines()[-3:] == ["not reviewed:", "  src/requests/utils.py (over-budget)", "dropped comments: 0"]
    code, out, _ = _run(["review", "--diff-file", TINY, "--fail-on-unreviewed"], env)
    assert code == 1 and "Nothing was reviewed" in out
    code, result = _json(["review", "--diff-file", TINY, "--fail-on-unreviewed"], env)
    assert code == 1 and result["coverage"]["state"] == "nothing"
    assert result["coverage"]["not_reviewed"] == [{"path": "src/requests/utils.py", "reason": "over-budget"}]


def test_a_diff_of_only_skipped_files_is_nothing_reviewed(mistral: MistralDouble) -> None:
    lock = ("diff --git a/poetry.lock b/poetry.lock\n--- a/poetry.lock\n+++ b/poetry.lock\n@@ -1,2 +1,2 @@\n"
            " [[package]]\n-name = \"a\"\n+name = \"b\"\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(["review", "--diff-file", "-", "--fail-on-unreviewed"], env=_env(mistral), out=out, err=err,
                stdin=io.StringIO(lock))
    assert code == 1 and mistral.requests == []
    assert "Nothing was reviewed: every changed file is skipped (1 ignored)." in out.getvalue()


def test_a_complete_review_without_findings_says_no_problems_and_what_was_dropped(mistral: MistralDouble) -> None:
    mistral.responder = lambda body, attempt: Reply(json.dumps({"comments": [comment("nowhere.py", 1, "x")]}))
    code, out, _ = _run(["review", "--diff-file", TINY, "--fail-on-unreviewed"], _env(mistral))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "No problems found."
    assert lines[-2:] == ["not reviewed: nothing", "dropped comments: 1 (path_not_in_batch: 1)"]
    assert "reviewed: 2 of 2 changed lines, 1 of 1 batch(es) answered" in out


def test_part_over_budget_is_partly_reviewed_and_lists_the_rest(mistral: MistralDouble) -> None:
    mistral.responder = lambda body, attempt: Reply(json.dumps({"comments": []}))
    env = _env(mistral, MISTRAL_REVIEW_BUDGET_USD="0.004", MISTRAL_REVIEW_REQUEST_TOKENS="8000")
    code, result = _json(["review", "--diff-file", MEDIUM], env)
    coverage = result["coverage"]
    assert code == 0 and coverage["state"] == "partial" and 0 < coverage["reviewed_lines"] < 580
    assert {u["reason"] for u in coverage["not_reviewed"]} == {"over-budget"}
    code, out, _ = _run(["review", "--diff-file", MEDIUM, "--fail-on-unreviewed"], env)
    assert code == 1 and "Partly reviewed:" in out and "No problems found" not in out


def test_an_unknown_model_is_never_priced_as_small_4(mistral: MistralDouble) -> None:
    code, _, err = _run(["review", "--diff-file", TINY, "--dry-run"], _env(mistral, MISTRAL_MODEL="my-finetune"))
    assert code == 2 and "model 'my-finetune' has no built-in price" in err
    priced = _env(mistral, MISTRAL_MODEL="my-finetune", MISTRAL_REVIEW_PRICE_INPUT="1", MISTRAL_REVIEW_PRICE_OUTPUT="2")
    code, plan = _json(["review", "--diff-file", TINY, "--dry-run"], priced)
    assert code == 0 and plan["max_cost_usd"] == pytest.approx((plan["batches"][0]["input_tokens"] + 2 * 4000) / 1e6)
    mistral.responder = first_added()
    code, result = _json(["review", "--diff-file", TINY], _env(mistral, MISTRAL_MODEL="mistral-large-2512"))
    usage = result["usage"]
    assert code == 0 and result["model"] == "mistral-large-2512" and usage["cost_usd"] == pytest.approx(
        (usage["prompt_tokens"] * 0.50 + usage["completion_tokens"] * 1.50) / 1e6, abs=1e-6)
