"""Opt-in: `review` and `eval` against a real OpenAI-compatible model server.

Runs only when MISTRAL_REVIEW_TEST_SERVER_URL is set (the server's base URL, without /v1); skipped otherwise,
CI included, since CI has no model server. It checks the protocol path, not the model: each batch either
gave a reply that was parsed with the server's usage, or failed with a plain reason and exit code 3.
The README's "Measuring review quality" section has a CPU recipe (Gemma 3 270M under llama.cpp's server).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.evaluation.suite import SHIPPED

SERVER = os.environ.get("MISTRAL_REVIEW_TEST_SERVER_URL", "")
CASES = ("py-wrong-unit-requests-retry-after", "clean-go-counters-rwmutex")

pytestmark = pytest.mark.skipif(not SERVER, reason="MISTRAL_REVIEW_TEST_SERVER_URL is not set (no model server)")


def _env() -> dict[str, str]:
    return {
        "MISTRAL_API_KEY": os.environ.get("MISTRAL_REVIEW_TEST_API_KEY", "no-key"),
        "MISTRAL_SERVER_URL": SERVER,
        "MISTRAL_MODEL": os.environ.get("MISTRAL_REVIEW_TEST_MODEL", "mistral-small-2603"),
        "MISTRAL_REVIEW_CONCURRENCY": "1",  # a CPU server answers one request at a time
        "MISTRAL_REVIEW_TIMEOUT_S": "600",
        "MISTRAL_REVIEW_RETRY_ATTEMPTS": "2",
        "MISTRAL_REVIEW_OUTPUT_TOKENS": "1024",
        "MISTRAL_REVIEW_PRICE_INPUT": "0",
        "MISTRAL_REVIEW_PRICE_OUTPUT": "0",
    }


def _run(args: list[str]) -> tuple[int, Any, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args, "--format", "json"], env=_env(), out=out, err=err)
    assert "Traceback" not in err.getvalue()
    return code, json.loads(out.getvalue()), err.getvalue()


def test_review_gets_a_parsed_reply_with_usage_or_a_plain_failure() -> None:
    code, result, _ = _run(["review", "--diff-file", str(SHIPPED / f"{CASES[0]}.diff")])
    assert code in (0, 3), result
    (batch,) = result["batches"]
    if code == 3:
        assert batch["status"] == "failed" and batch["error"]
    else:
        assert batch["status"] == "done" and result["usage"]["prompt_tokens"] > 0
        assert result["usage"]["estimated"] is False, "the server reported no usage"


def test_eval_runs_two_cases_and_reports_them(tmp_path: Path) -> None:
    for case in CASES:
        for suffix in (".diff", ".toml"):
            shutil.copy(SHIPPED / f"{case}{suffix}", tmp_path / f"{case}{suffix}")
    code, report, err = _run(["eval", "--cases", str(tmp_path)])
    assert code in (0, 3), err
    assert [r["id"] for r in report["cases"]] == sorted(CASES) and report["totals"]["cases"] == 2
    failed = {f["id"] for f in report.get("failed", [])}
    assert (code == 3) == bool(failed)
    for row in report["cases"]:
        assert row["id"] in failed or row["tokens"] > 0
