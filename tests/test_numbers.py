"""Whole numbers from text anyone writes (headers, cookies, ids) are read within a bound, or not at all."""

from __future__ import annotations

import io

import pytest
from github import GithubException
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.core.numbers import SECONDS_DIGITS, bounded_int
from bot.hosts.github.errors import retry_hint


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=30) | st.integers(0, 6000).map(lambda n: "9" * n), st.integers(1, 30))
def test_any_text_is_a_bounded_number_or_none(text: str, max_digits: int) -> None:
    value = bounded_int(text, max_digits)
    assert value is None or (0 <= value < 10**max_digits and str(value) == text.lstrip("0").rjust(1, "0"))


@pytest.mark.parametrize("text", ["", "\xb2", "1\xb2", "\u0663", "-1", " 1", "1.5", "9" * 13, "9" * 5000, None])
def test_what_is_not_a_few_ascii_digits_is_none(text: str | None) -> None:
    assert bounded_int(text, SECONDS_DIGITS) is None


def test_a_github_wait_hint_with_odd_digits_is_no_hint_not_a_crash() -> None:
    for value in ("\xb2", "9" * 5000):
        refused = GithubException(429, {"message": "slow down"}, headers={"Retry-After": value,
                                                                          "X-RateLimit-Remaining": "0",
                                                                          "X-RateLimit-Reset": value})
        assert retry_hint(refused) is None
    assert retry_hint(GithubException(429, {}, headers={"Retry-After": "7"})) == 7.0


@pytest.mark.parametrize("args", [["pr", "octo/demo#" + "9" * 5000], ["pr", "octo/demo#\u0663"],
                                  ["mr", "acme/api!" + "9" * 5000]])
def test_a_pr_or_mr_number_of_thousands_of_digits_is_one_line_and_exit_2(args: list[str]) -> None:
    err = io.StringIO()
    code = main(args, env={"GITHUB_TOKEN": "t", "GITLAB_TOKEN": "glpat-t", "MISTRAL_API_KEY": "k"},
                out=io.StringIO(), err=err)
    assert code == 2 and err.getvalue().count("\n") == 1 and "expected" in err.getvalue()


@pytest.mark.parametrize("iid", ["9" * 5000, "\xb2", ""])
def test_a_gitlab_ci_iid_that_is_not_a_few_digits_is_a_usage_error(iid: str) -> None:
    err = io.StringIO()
    assert main(["gitlab-ci"], env={"CI_MERGE_REQUEST_IID": iid, "CI_PROJECT_ID": "7"}, out=io.StringIO(), err=err) == 2
    assert "CI_MERGE_REQUEST_IID" in err.getvalue() and err.getvalue().count("\n") == 1
