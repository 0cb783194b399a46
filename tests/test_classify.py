"""Ignore globs as users write them in .github/mistral-review.toml: .gitignore syntax, on real diffs."""

from __future__ import annotations

import pytest

from bot.core.classify import SkipReason, file_skip_reason, matches
from bot.core.diff import parse_diff
from bot.core.settings import Settings, parse_repo_config
from tests.conftest import diff_bytes


def _ignored(name: str, toml: str) -> set[str]:
    """The files of a fixture diff that a repo config's `ignore` keeps from the model."""
    settings, problems = parse_repo_config(toml, Settings())
    assert problems == []
    return {f.path for f in parse_diff(diff_bytes(name))
            if file_skip_reason(f, ignore=settings.ignore) is SkipReason.IGNORED}


def test_negation_takes_files_back_and_the_last_match_wins() -> None:
    everything = _ignored("huge-commit-vendoring.diff", 'ignore = ["requests/packages/**"]')
    assert len(everything) == 64
    kept = _ignored("huge-commit-vendoring.diff",
                    'ignore = ["requests/packages/**", "!requests/packages/chardet/**", "requests/packages/chardet/compat.py"]')
    assert kept == {p for p in everything if not p.startswith("requests/packages/chardet/")} | {
        "requests/packages/chardet/compat.py"}


def test_a_leading_slash_anchors_at_the_repo_root_and_a_bare_name_matches_at_any_depth() -> None:
    anchored = _ignored("medium-multi-file.diff", 'ignore = ["/src/flask/json/"]')
    assert anchored == {"src/flask/json/__init__.py", "src/flask/json/provider.py", "src/flask/json/tag.py"}
    assert _ignored("medium-multi-file.diff", 'ignore = ["/json/"]') == set()  # no json/ at the root
    assert _ignored("medium-multi-file.diff", 'ignore = ["json/"]') == anchored  # a directory at any depth
    assert _ignored("medium-multi-file.diff", 'ignore = ["app.py"]') == {"src/flask/app.py", "src/flask/sansio/app.py"}
    assert _ignored("medium-multi-file.diff", 'ignore = ["/app.py"]') == set()


@pytest.mark.parametrize("path,patterns,expected", [
    ("src/flask/sansio/app.py", ["src/**/app.py"], True),  # ** spans folders
    ("src/flask/sansio/app.py", ["src/*/app.py"], False),  # * stops at a slash
    ("src/flask/app.py", ["src/*/app.py"], True),
    ("docs/a/b.md", ["docs/*.md"], False),  # a slash in the middle anchors the pattern
    ("docs/b.md", ["docs/*.md"], True),
    ("a/b.min.js", ["*.min.js", "!a/b.min.js"], False),
    ("a/b.min.js", ["!a/b.min.js", "*.min.js"], True),  # order matters: the last matching pattern wins
    ("x/#notes", ["#notes"], False),  # a comment line, as in .gitignore
    ("x/#notes", [r"\#notes"], True),
])
def test_gitignore_rules(path: str, patterns: list[str], expected: bool) -> None:
    assert matches(path, patterns) is expected


def test_an_invalid_glob_is_reported_and_the_default_kept() -> None:
    settings, problems = parse_repo_config('ignore = ["vendor/**", "!"]', Settings())
    assert settings.ignore == Settings().ignore
    assert len(problems) == 1 and "ignore: not a valid glob" in problems[0] and "'!'" in problems[0]
