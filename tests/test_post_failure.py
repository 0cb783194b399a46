"""A review whose model calls were paid but that could not be posted: the spend is booked in the summary's
signed marker all the same, the run exits 3 with one line, and the next run under a spent budget calls nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bot.cli import main
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble, Reply
from tests.modelreplies import first_added
from tests.pullrequests import HEAD_SHA, REPO, bot_env, diff_files, marker_of, open_pull, review_pr

TIGHT = {"MISTRAL_REVIEW_BUDGET_USD": "0.003", "MISTRAL_REVIEW_RETRY_ATTEMPTS": "1"}
USAGE = {"prompt_tokens": 4000, "completion_tokens": 3500, "total_tokens": 7500}  # $0.0027 at $0.15/$0.60 per 1M


def costly(body: dict[str, Any], attempt: int) -> Reply:
    """One finding on the first added line, billed $0.0027."""
    return Reply(first_added()(body, attempt).content, usage=USAGE)


def test_a_review_github_refuses_to_post_still_books_its_spend_and_the_budget_holds(
        gh: GitHubDouble, mistral: MistralDouble) -> None:
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = costly
    gh.fail_next("POST", r"/pulls/7/reviews$", status=500, times=1_000)  # every attempt, retries included
    out, err = io.StringIO(), io.StringIO()
    code = main(["pr", f"{REPO}#7"], env=bot_env(gh, mistral, **TIGHT), out=out, err=err)
    assert code == 3 and len(mistral.requests) == 1 and gh.reviews(REPO, 7) == []
    (line,) = [ln for ln in err.getvalue().splitlines() if not ln.startswith(("reviewing:", "waiting for the model:"))]
    assert line.startswith("mistral-review: posting the review failed (") and "$0.0027 is booked" in line
    marker = marker_of(gh)
    assert marker["cost_usd"] == pytest.approx(0.0027) and marker["head"] != HEAD_SHA  # redone, not skipped
    assert marker["prompt_tokens"] == 4000 and marker["fingerprints"] == []
    (summary,) = gh.issue_comments(REPO, 7)
    assert "Posting this review failed" in summary["body"] and "nothing was posted" in summary["body"]
    code, again = review_pr(gh, mistral, **TIGHT)
    assert code == 0 and again["status"] == "budget-exhausted" and len(mistral.requests) == 1
    assert marker_of(gh)["cost_usd"] == pytest.approx(0.0027)


def test_the_next_run_reviews_the_same_head_again_and_posts(gh: GitHubDouble, mistral: MistralDouble) -> None:
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = first_added()
    gh.fail_next("POST", r"/pulls/7/reviews$", status=500, times=5)  # the GitHub client's five attempts
    assert main(["pr", f"{REPO}#7"], env=bot_env(gh, mistral), out=io.StringIO(), err=io.StringIO()) == 3
    assert len([r for r in gh.requests if r.method == "POST" and r.path.endswith("/reviews")]) == 5
    spent = marker_of(gh)["cost_usd"]
    code, result = review_pr(gh, mistral)
    assert code == 0 and result["status"] == "reviewed" and len(mistral.requests) == 2
    (review,) = gh.reviews(REPO, 7)
    assert review["commit_id"] == HEAD_SHA and len(gh.review_comments(REPO, 7)) == 1
    marker = marker_of(gh)
    assert marker["head"] == HEAD_SHA and marker["cost_usd"] == pytest.approx(2 * spent) and len(marker["fingerprints"]) == 1
    (summary,) = gh.issue_comments(REPO, 7)
    assert "Posting this review failed" not in summary["body"]
