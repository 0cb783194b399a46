"""Requests per review on GitLab vs GitHub for the same diff, and the no-bulk-publish fallback's time.

Both runs use the real clients (python-gitlab, PyGithub, mistralai) against the doubles in tests/doubles,
with a scripted model that comments on the first added line of each file (capped at `--comments`).
Both GitLab ways are also timed with the adapter's default write pacing (0.25 s between writes), so they take
that long. Run: python bench/gitlab_requests.py [--comments 15]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cli import main  # noqa: E402
from tests.doubles.github import GitHubDouble  # noqa: E402
from tests.doubles.gitlab import GitLabDouble  # noqa: E402
from tests.doubles.mistral import MistralDouble, Reply  # noqa: E402
from tests.mergerequests import BASE_SHA, HEAD_SHA, PROJECT, diff_entries, mr_env  # noqa: E402
from tests.modelreplies import added_lines, comment  # noqa: E402
from tests.pullrequests import REPO, bot_env, diff_files, open_pull  # noqa: E402

DIFF = "medium-multi-file.diff"


def responder(cap: int) -> Any:
    """A model that comments on the first added line of each file, `cap` comments in all."""
    given = 0

    def respond(request: dict[str, Any], attempt: int) -> Reply:
        nonlocal given
        firsts: dict[str, tuple[int, str]] = {}
        for path, line, text in added_lines(request):
            firsts.setdefault(path, (line, text))
        picked = list(firsts.items())[:max(0, cap - given)]
        given += len(picked)
        return Reply(json.dumps({"comments": [comment(p, ln, t, body=f"Look at {p}.") for p, (ln, t) in picked]}))

    return respond


def _kinds(requests: list[Any]) -> dict[str, int]:
    counts = Counter("read" if r.method == "GET" else "write" for r in requests)
    return {"reads": counts["read"], "writes": counts["write"], "total": sum(counts.values())}


def gitlab_run(cap: int, *, drafts: bool, pacing: str | None) -> tuple[dict[str, Any], float]:
    """Review the diff as an MR; return the request counts and the run's wall time."""
    with GitLabDouble() as gl, MistralDouble() as mistral:
        gl.add_project(PROJECT)
        gl.add_mr(PROJECT, 3, diffs=diff_entries(DIFF), head=HEAD_SHA, base=BASE_SHA)
        gl.drafts_api = drafts
        mistral.responder = responder(cap)
        out, err = io.StringIO(), io.StringIO()
        env = mr_env(gl, mistral)
        if pacing is None:
            del env["MISTRAL_REVIEW_GITLAB_WRITE_INTERVAL_S"]  # the adapter's default
        start = time.perf_counter()
        code = main(["mr", f"{PROJECT}!3", "--format", "json"], env=env, out=out, err=err)
        wall = time.perf_counter() - start
        assert code == 0, err.getvalue()
        posted = len(json.loads(out.getvalue())["comments"])
        return {"comments": posted, **_kinds(gl.requests)}, wall


def github_run(cap: int) -> dict[str, Any]:
    """Review the diff as a PR; return the request counts."""
    with GitHubDouble() as gh, MistralDouble() as mistral:
        gh.add_repo(REPO)
        open_pull(gh, diff_files(DIFF))
        mistral.responder = responder(cap)
        out, err = io.StringIO(), io.StringIO()
        code = main(["pr", f"{REPO}#7", "--format", "json"], env=bot_env(gh, mistral), out=out, err=err)
        assert code == 0, err.getvalue()
        posted = len(json.loads(out.getvalue())["comments"])
        return {"comments": posted, **_kinds(gh.requests)}


def run(cap: int) -> dict[str, Any]:
    """Measure all three and return them."""
    github = github_run(cap)  # also loads the tokenizer once, before anything is timed
    drafts, unpaced_drafts = gitlab_run(cap, drafts=True, pacing="0")
    fallback, unpaced_fallback = gitlab_run(cap, drafts=False, pacing="0")
    _, paced_drafts = gitlab_run(cap, drafts=True, pacing=None)
    _, paced_fallback = gitlab_run(cap, drafts=False, pacing=None)
    return {"diff": DIFF, "github": github, "gitlab_drafts": drafts, "gitlab_fallback": fallback,
            "wall_s_unpaced": {"drafts": round(unpaced_drafts, 2), "fallback": round(unpaced_fallback, 2)},
            "wall_s_default_pacing": {"drafts": round(paced_drafts, 2), "fallback": round(paced_fallback, 2)}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comments", type=int, default=15)
    print(json.dumps(run(parser.parse_args().comments), indent=2))
