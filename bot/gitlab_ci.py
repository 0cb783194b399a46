"""The GitLab CI job's entry point (`mistral-review gitlab-ci`): the merge request pipeline's variables in,
one review of that merge request out. Nothing else: the flow and the adapter do the work."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Mapping
from typing import TextIO

from bot.core.errors import UsageError
from bot.core.numbers import bounded_int
from bot.pullcommand import run_pull

FORK_NOTICE = ("mistral-review: this merge request comes from a fork, and GitLab does not give fork pipelines the "
               "project's masked variables (GITLAB_TOKEN, MISTRAL_API_KEY), so nothing was reviewed. A maintainer "
               "can run the pipeline in the parent project (\"Run pipeline\" on the merge request) to review it.")


def _variables(env: Mapping[str, str]) -> tuple[str, int]:
    """Return the project and MR iid of a merge request pipeline; a UsageError for any other pipeline."""
    iid = bounded_int(env.get("CI_MERGE_REQUEST_IID"), 10)
    if iid is None:
        raise UsageError("CI_MERGE_REQUEST_IID is not set: run the job in merge request pipelines "
                         "(rules: - if: $CI_PIPELINE_SOURCE == \"merge_request_event\")")
    project = env.get("CI_MERGE_REQUEST_PROJECT_ID") or env.get("CI_PROJECT_ID") or ""
    if not project:
        raise UsageError("CI_PROJECT_ID is not set")
    return project, iid


def main(env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Review the pipeline's merge request; return the exit code (0 also when a fork gets no secrets)."""
    from bot.hosts.gitlab.client import client_from_env
    from bot.hosts.gitlab.merge_request import MergeRequestHandle
    from bot.review.ports import ReviewRequest

    project, iid = _variables(env)
    source = env.get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID")
    if source and source != project and not (env.get("GITLAB_TOKEN") and env.get("MISTRAL_API_KEY")):
        err.write(FORK_NOTICE + "\n")
        return 0
    if not env.get("MISTRAL_API_KEY"):
        raise UsageError("MISTRAL_API_KEY is not set: add it as a masked CI/CD variable")
    settings_env = {**env, "GITLAB_URL": env.get("GITLAB_URL") or env.get("CI_SERVER_URL") or "https://gitlab.com"}
    client = client_from_env(settings_env)
    handle = MergeRequestHandle(client, project, iid)
    # In merged-results pipelines CI_COMMIT_SHA is the merge commit; the source branch's head is this one.
    head = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or env.get("CI_COMMIT_SHA") or None
    request = ReviewRequest(run_id=(env.get("CI_PIPELINE_ID", "") + uuid.uuid4().hex[:8]), expected_head=head)
    args = argparse.Namespace(dry_run=False, format="text")
    base = env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
    if base:
        err.write(f"mistral-review: reviewing !{iid} of project {project} (pipeline diff base {base[:12]}; "
                  "positions use the merge request's own newest diff version)\n")
    return run_pull(handle, client.identity(), args, settings_env, out, err, request=request)
