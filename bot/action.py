"""The GitHub Action's entry point: the Actions environment in, one review and step outputs out.

The environment is an argument (`main(env)`), so tests run it with an emulated one.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.core.errors import ReviewError, UsageError
from bot.core.markdown import code_span
from bot.core.marker import derive_key
from bot.core.settings import ConfigError, Settings
from bot.core.severity import Severity, severity_counts
from bot.review.ports import Outcome, ReviewRequest
from bot.review.progress import progress_maker
from bot.review.report import coverage_headline, exit_status, shown_status

log = logging.getLogger("mistral_review.action")
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
# Who may ask for a /review in the Action (GitHub's `author_association` of the comment); the README's workflow
# filters on the same list, so others do not even start a job that could displace a queued review.
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
# Inputs that map one to one onto settings (action.yml declares each).
SETTING_INPUTS = ("model", "server_url", "max_comments", "min_severity", "budget_usd", "ignore", "instructions",
                  "allowed_models")


def _escape(message: str) -> str:
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def command(kind: str, message: str) -> str:
    """Return a workflow command line (`::error::`, `::warning::`, `::notice::`)."""
    return f"::{kind}::{_escape(message)}\n"


def read_input(env: Mapping[str, str], name: str) -> str:
    """Return an input as GitHub passes it: INPUT_ plus the name in upper case, dashes kept."""
    return env.get(f"INPUT_{name.upper()}", "").strip()


def _append(env: Mapping[str, str], variable: str, text: str) -> None:
    path = env.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def outputs_text(outcome: Outcome | None) -> str:
    """Return the step outputs as `name=value` lines."""
    usage = outcome.usage if outcome else None
    coverage = outcome.coverage if outcome else None
    values = {
        "comments": len(outcome.posted) if outcome else 0,
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cost_usd": f"{usage.cost_usd:.6f}" if usage else "0.000000",
        "review_url": outcome.review_url if outcome else "",
        "coverage": coverage.state if coverage else "not-run",
        "failed_batches": len(coverage.failed) if coverage else 0,
        "unreviewed_files": len({u.path for u in coverage.not_reviewed}) if coverage else 0,
        "dropped_comments": coverage.dropped_total if coverage else 0,
        "model": outcome.model if outcome else "",
    }
    return "".join(f"{k}={v}\n" for k, v in values.items())


def job_summary(outcome: Outcome) -> str:
    """Return the Markdown job summary: this run's and the PR's tokens and dollars, comments, skips."""
    u, m = outcome.usage, outcome.marker
    lines = [
        "## mistral-review",
        "",
        f"Result: **{shown_status(outcome)}**" + (f" ({outcome.reason})" if outcome.reason else "")
        + (f", [review]({outcome.review_url})" if outcome.review_url else ""),
        "",
        "| | this run | pull request so far |",
        "|---|---:|---:|",
        f"| Input tokens | {u.prompt_tokens:,} | {m.prompt_tokens:,} |",
        f"| Output tokens | {u.completion_tokens:,} | {m.completion_tokens:,} |",
        f"| Cost | ${u.cost_usd:.4f} | ${m.cost_usd:.4f} of ${outcome.budget_usd:.2f} |",
        "",
        f"Comments: {len(outcome.posted)} ({severity_counts(outcome.posted)})" + (
            f", model `{outcome.model}`" if outcome.model else ""),
    ]
    coverage = outcome.coverage
    if coverage is None:
        return "\n".join(lines) + "\n"
    lines += ["", *(f"**{line}**" for line in coverage_headline(coverage)[:1]),
              f"Reviewed: {coverage.reviewed_lines:,} of {coverage.changed_lines:,} changed lines, "
              f"{coverage.answered} of {coverage.batches} batch(es) answered."]
    if coverage.not_reviewed:
        lines += ["", "Not reviewed:", ""] + [f"- {code_span(u.path)}: {u.reason}" for u in coverage.not_reviewed]
    by_reason = ", ".join(f"{reason} {n}" for reason, n in coverage.dropped)
    lines += ["", f"Dropped comments: {coverage.dropped_total}" + (f" ({by_reason})" if by_reason else "")]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Target:
    """The PR an event asks about, and how it asks."""

    number: int
    explicit: bool = False  # an explicit /review
    rereview: bool = False  # the base changed: the head again, opt-outs kept
    commenter: str | None = None


def _target(event: str, payload: dict[str, Any]) -> Target | str:
    """Return what an event asks of us, or why we do nothing."""
    action = payload.get("action")
    if event in ("pull_request", "pull_request_target"):
        base_changed = action == "edited" and "base" in (payload.get("changes") or {})
        if action not in PR_ACTIONS and not base_changed:
            return f"{event} '{action}' needs no review"
        return Target(int(payload["pull_request"]["number"]), rereview=base_changed)
    if event == "issue_comment":
        issue, comment = payload.get("issue") or {}, payload.get("comment") or {}
        body = str(comment.get("body") or "").strip()
        # `/review` alone or before a space or a line break: `/reviewer` is not the command (the README's `if:` agrees)
        if action != "created" or not issue.get("pull_request") or body.split(maxsplit=1)[:1] != ["/review"]:
            return "the comment is not a /review command on a pull request"
        login = str((comment.get("user") or {}).get("login") or "someone")
        association = str(comment.get("author_association") or "NONE")
        if association not in TRUSTED_ASSOCIATIONS:
            return (f"/review by {login} ignored: only a repository's owners, members and collaborators may ask "
                    f"(GitHub says {association})")
        return Target(int(issue["number"]), explicit=True, commenter=login)
    return f"the {event or 'unknown'} event is not one mistral-review handles"


def run(env: Mapping[str, str], out: TextIO) -> int:
    """Handle one Actions event; return the exit code."""
    from bot.hosts.github.client import client_from_env
    from bot.llm.mistral import model_from_settings
    from bot.llm.tokens import default_counter
    from bot.review.prompting import load_prompts
    from bot.review.pull_flow import PostFailed, review_pull

    event = env.get("GITHUB_EVENT_NAME", "")
    try:
        payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    except (KeyError, OSError, ValueError) as exc:
        raise UsageError(f"cannot read the event payload (GITHUB_EVENT_PATH): {exc}") from None
    target = _target(event, payload)
    if isinstance(target, str):
        out.write(command("notice", f"mistral-review: nothing to do: {target}."))
        _append(env, "GITHUB_OUTPUT", outputs_text(None))
        return 0
    pr_data = payload.get("pull_request") or {}
    head_repo = ((pr_data.get("head") or {}).get("repo") or {}).get("full_name")
    repo = env.get("GITHUB_REPOSITORY") or payload["repository"]["full_name"]
    if event == "pull_request" and head_repo and head_repo != repo:
        out.write(command("notice", "mistral-review: this pull request comes from a fork, and under "
                          "`on: pull_request` GitHub gives it no secrets and a read-only token, so nothing was "
                          "posted. Use `on: pull_request_target` (with no checkout step) to review fork PRs."))
        _append(env, "GITHUB_OUTPUT", outputs_text(None))
        return 0
    overrides = {name: read_input(env, name) or None for name in SETTING_INPUTS}
    key = read_input(env, "mistral_api_key") or env.get("MISTRAL_API_KEY", "")
    if not key:
        raise UsageError("the mistral_api_key input is empty: add a MISTRAL_API_KEY secret and pass it "
                         "as `mistral_api_key: ${{ secrets.MISTRAL_API_KEY }}`")
    fail_on = read_input(env, "fail_on").lower()
    if fail_on not in ("", "none") and fail_on not in {s.value for s in Severity}:
        raise UsageError(f"fail_on must be none or one of critical, major, minor, nit, not {fail_on!r}")
    settings = Settings.from_env(env).with_values({"api_key": key})
    _ = settings.with_values(overrides).price  # an unpriced model input is a ConfigError now, not mid-review
    client = client_from_env(env, token=read_input(env, "github_token") or None,
                             bot_login=read_input(env, "bot_login") or None)
    identity = client.identity()  # before anything is posted: without it, nothing is
    pr = client.pull(repo, target.number)
    if target.commenter is not None:
        if not pr.may_request_review(target.commenter):
            out.write(command("notice", f"mistral-review: {target.commenter} has no write access; /review ignored."))
            _append(env, "GITHUB_OUTPUT", outputs_text(None))
            return 0
        _react(pr, int(payload["comment"]["id"]), out)
    drafts = read_input(env, "review_drafts").lower() in ("true", "1", "yes")
    marker_key = derive_key(read_input(env, "marker_key") or key)  # operator-only: a PR cannot sign a marker
    request = ReviewRequest(explicit=target.explicit, rereview=target.rereview, review_drafts=drafts,
                            run_id=env.get("GITHUB_RUN_ID", "") + uuid.uuid4().hex[:8], overrides=overrides,
                            marker_key=marker_key, progress=progress_maker(sys.stderr, env))
    try:
        outcome = review_pull(pr, identity=identity, base_settings=settings, model_for=model_from_settings,
                              counter=default_counter(), prompts=load_prompts(), request=request)
    except PostFailed as exc:  # the spend is in the marker; the outputs and the job summary say it too
        _report(env, out, exc.outcome, fail_on)
        out.write(command("error", f"mistral-review: {exc}"))
        return 3
    return _report(env, out, outcome, fail_on)


def _report(env: Mapping[str, str], out: TextIO, outcome: Outcome, fail_on: str) -> int:
    """Write the step outputs, the job summary and the annotations; return the exit code."""
    _append(env, "GITHUB_OUTPUT", outputs_text(outcome))
    _append(env, "GITHUB_STEP_SUMMARY", job_summary(outcome))
    out.write(command("notice", f"mistral-review: {shown_status(outcome)}: {len(outcome.posted)} comment(s), "
                      f"${outcome.usage.cost_usd:.4f} this run"))
    for line in coverage_headline(outcome.coverage)[:1] if outcome.coverage else []:
        out.write(command("warning", f"mistral-review: {line}"))
    severe = fail_on not in ("", "none") and any(c.severity.at_least(Severity(fail_on)) for c in outcome.posted)
    if severe:
        out.write(command("error", f"mistral-review: a {fail_on} (or worse) comment was posted"))
    unreviewed = read_input(env, "fail_on_unreviewed").lower() in ("true", "1", "yes")
    code = exit_status(outcome.coverage, severe=severe, fail_on_unreviewed=unreviewed)
    if code == 1 and not severe:
        out.write(command("error", "mistral-review: changed lines were not reviewed (fail_on_unreviewed)"))
    return code


def _react(pr: Any, comment_id: int, out: TextIO) -> None:
    """Answer a /review with 👀, best effort: a refused reaction must not stop the review."""
    try:
        pr.acknowledge(comment_id)
    except ReviewError as exc:
        log.warning("could not react to comment %s: %s", comment_id, exc)
        out.write(command("warning", f"mistral-review: could not add the 👀 reaction ({exc}); reviewing anyway"))


def main(env: Mapping[str, str], out: TextIO) -> int:
    """Run the Action; errors become `::error::` lines and an exit code, never a traceback."""
    try:
        return run(env, out)
    except (UsageError, ConfigError) as exc:
        out.write(command("error", f"mistral-review: {exc}"))
        return 2
    except ReviewError as exc:
        out.write(command("error", f"mistral-review: {exc}"))
        return 3
