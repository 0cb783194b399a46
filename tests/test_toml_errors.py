"""Every way a TOML file can be bad (deep nesting, huge numbers, oversize, not UTF-8, not TOML) is handled as
documented, end to end through the CLI: a repo's config warns and the review goes on with the defaults; the
operator's config and an eval case are one line and exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.core.settings import Settings, parse_repo_config
from bot.core.tomlfile import MAX_TOML_BYTES
from tests.doubles.github import GitHubDouble
from tests.doubles.mistral import MistralDouble
from tests.modelreplies import first_added
from tests.pullrequests import BASE_SHA, REPO, diff_files, open_pull, review_pr

DEEP = 50_000
BAD_TOML = {
    "deep array": "budget_usd = " + "[" * DEEP + "]" * DEEP + "\n",
    "deep inline table": "budget_usd = " + "{a=" * DEEP + "1" + "}" * DEEP + "\n",
    "5,000-digit integer": "max_comments = " + "9" * 5000 + "\n",
    "oversize": "# " + "x" * MAX_TOML_BYTES + "\n",
    "not TOML": "[budgets\n",
}
SAYS = {"deep array": "not valid TOML (nested too deeply)", "deep inline table": "not valid TOML (nested too deeply)",
        "5,000-digit integer": "not valid TOML", "oversize": "over 262,144 bytes", "not TOML": "not valid TOML"}


@pytest.mark.parametrize("kind", sorted(BAD_TOML))
def test_a_bad_repo_config_warns_in_the_summary_and_the_review_goes_on_with_the_defaults(
        gh: GitHubDouble, mistral: MistralDouble, kind: str) -> None:
    gh.set_content(REPO, BASE_SHA, ".github/mistral-review.toml", BAD_TOML[kind])
    open_pull(gh, diff_files("tiny-one-line-fix.diff"))
    mistral.responder = first_added()
    code, result = review_pr(gh, mistral)
    assert code == 0 and result["model"] == Settings().model and len(mistral.requests) == 1
    summary = next(c for c in gh.issue_comments(REPO, 7) if "mistral-review:summary" in c["body"])
    assert f".github/mistral-review.toml is {SAYS[kind]}" in summary["body"] and "using the defaults" in summary["body"]


def _cli(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, env=env, out=out, err=err)
    return code, err.getvalue()


@pytest.mark.parametrize("kind", [*sorted(BAD_TOML), "not UTF-8", "budgets not a table"])
def test_a_bad_operator_config_is_one_line_and_exit_2(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "server.toml"
    config.write_bytes({"not UTF-8": b"[budgets]\npr_cap_usd = 1 # \xff\n",
                        "budgets not a table": b"budgets = 1\n"}.get(kind) or BAD_TOML[kind].encode())
    code, err = _cli(["spend"], {"MISTRAL_REVIEW_CONFIG": str(config), "MISTRAL_REVIEW_DATA_DIR": str(tmp_path)})
    assert code == 2 and err.count("\n") == 1 and f"MISTRAL_REVIEW_CONFIG {config}" in err, err
    assert "Traceback" not in err and len(err) < 400


@pytest.mark.parametrize("kind", [*sorted(BAD_TOML), "not UTF-8", "seeded not a list"])
def test_a_bad_eval_case_is_one_line_and_exit_2(tmp_path: Path, kind: str) -> None:
    (tmp_path / "case-1.diff").write_bytes((Path(__file__).parent / "fixtures" / "diffs" / "tiny-one-line-fix.diff")
                                           .read_bytes())
    (tmp_path / "case-1.toml").write_bytes({"not UTF-8": b'class = "clean"\nlanguage = "\xff"\n',
                                            "seeded not a list": b'class = "bug"\nlanguage = "python"\nseeded = 3\n'}
                                           .get(kind) or BAD_TOML[kind].encode())
    code, err = _cli(["eval", "--cases", str(tmp_path)], {"MISTRAL_API_KEY": "k"})
    assert code == 2 and err.count("\n") == 1 and "case case-1" in err and "Traceback" not in err, err


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(alphabet='[]{}="a1 .\n#x', max_size=400) | st.integers(1, 2000).map(lambda n: "a = " + "[" * n))
def test_any_repo_config_text_is_settings_and_warnings_never_an_exception(text: str) -> None:
    applied, problems = parse_repo_config(text, Settings())
    assert isinstance(applied, Settings) and all("\n" not in p for p in problems)
