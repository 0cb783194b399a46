"""A new user's first hour: --version, one-line errors for a typo'd model or `action` outside Actions, an empty
diff without a key, and `/review` matched exactly."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.action import main as action_main
from bot.cli import main
from tests.conftest import FIXTURES

ONE_LINE = FIXTURES / "diffs" / "tiny-one-line-fix.diff"


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `mistral-review` as a user would, with only PATH and the given variables."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(__file__).parent.parent),
                               **(env or {})}, cwd=cwd)


def test_version_is_the_installed_packages() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout == f"mistral-review {version('mistral-review')}\n"


def test_action_outside_actions_says_what_is_missing_in_one_line() -> None:
    done = cli("action")
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set" in done.stderr
    assert "run `mistral-review review`" in done.stderr


def test_an_empty_diff_exits_0_without_asking_for_a_key(tmp_path: Path) -> None:
    empty = tmp_path / "empty.diff"
    empty.write_bytes(b"")
    done = cli("review", "--diff-file", str(empty))
    assert done.returncode == 0, done.stderr
    assert "Nothing was reviewed" in done.stdout and "MISTRAL_API_KEY" not in done.stderr


def test_a_typo_in_the_model_name_is_named_with_the_nearest_known_model() -> None:
    err = io.StringIO()
    code = main(["review", "--diff-file", str(ONE_LINE)],
                env={"MISTRAL_MODEL": "mistral-smal-2603", "MISTRAL_API_KEY": "k"}, out=io.StringIO(), err=err)
    line = err.getvalue()
    assert code == 2 and line.count("\n") == 1
    assert line.startswith("mistral-review: error: unknown model 'mistral-smal-2603'; known models: ")
    assert "mistral-large-2512" in line and line.endswith("(did you mean mistral-small-2603?)\n")
    assert "MISTRAL_REVIEW_PRICE" not in line  # prices would only send the typo to the API


def test_an_unknown_model_far_from_every_known_one_is_told_to_set_prices() -> None:
    err = io.StringIO()
    code = main(["review", "--diff-file", str(ONE_LINE)], env={"MISTRAL_MODEL": "my-finetune"},
                out=io.StringIO(), err=err)
    assert code == 2 and "did you mean" not in err.getvalue()
    assert "MISTRAL_REVIEW_PRICE_INPUT and MISTRAL_REVIEW_PRICE_OUTPUT" in err.getvalue()


def test_a_custom_model_with_prices_keeps_working() -> None:
    out = io.StringIO()
    code = main(["review", "--dry-run", "--format", "json", "--diff-file", str(ONE_LINE)],
                env={"MISTRAL_MODEL": "my-finetune", "MISTRAL_REVIEW_PRICE_INPUT": "0",
                     "MISTRAL_REVIEW_PRICE_OUTPUT": "0"}, out=out, err=io.StringIO())
    assert code == 0 and json.loads(out.getvalue())["batches"]


@pytest.mark.parametrize(("body", "is_command"), [
    ("/review", True), ("/review please", True), ("/review\nplease", True), ("/review\r\nplease", True),
    ("/reviewer", False), ("/reviews", False), ("please /review", False),
])
def test_only_review_alone_or_before_a_space_or_line_break_is_the_command(tmp_path: Path, body: str,
                                                                           is_command: bool) -> None:
    event = json.loads((FIXTURES / "webhooks" / "issue_comment.created.on-pull-request.json").read_text())
    event["comment"]["body"] = body
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    out = io.StringIO()
    # no key: a command gets as far as asking for one (exit 2); anything else is a notice and exit 0
    code = action_main({"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)}, out)
    if is_command:
        assert code == 2 and "mistral_api_key input is empty" in out.getvalue()
    else:
        assert code == 0 and "not a /review command" in out.getvalue()


def _imported_by(*args: str) -> set[str]:
    """Return the top-level packages a CLI run imports (in a fresh interpreter)."""
    script = ("import io, sys\nfrom bot.cli import main\n"
              "try:\n    main(sys.argv[1:], env={}, out=io.StringIO(), err=io.StringIO())\n"
              "except SystemExit:\n    pass\n"
              "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent, check=True)
    return set(done.stdout.split())


HEAVY = {"github", "gitlab", "flask", "sqlalchemy", "huey", "redis", "mistralai", "mistral_common", "numpy"}


def test_a_local_dry_run_imports_neither_a_host_sdk_nor_the_server_nor_the_model_client() -> None:
    imported = _imported_by("review", "--dry-run", "--diff-file", str(ONE_LINE))
    assert "mistral_common" in imported  # the token counter is the one library a dry run needs
    assert imported & {"github", "gitlab", "flask", "sqlalchemy", "huey", "redis", "mistralai"} == set()


def test_version_and_a_misplaced_action_load_no_library_at_all() -> None:
    assert _imported_by("--version") & HEAVY == set()
    assert _imported_by("action") & HEAVY == set()
