"""Turn plans and review results into what the CLI prints: text for people, JSON for scripts. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.core.batching import Plan, Skipped
from bot.core.coverage import Coverage, measure
from bot.core.severity import severity_counts
from bot.core.spend import Price, worst_case
from bot.review.engine import ReviewResult
from bot.review.ports import Outcome


def max_cost(plan: Plan, price: Price) -> float:
    """Return the most the plan can cost: all input and every reserved output token."""
    return sum(worst_case(b.input_tokens, plan.limits.output_tokens, price) for b in plan.batches)


def coverage_of(result: ReviewResult, *, already_posted: int = 0) -> Coverage:
    """Return what a finished review covered (comments already on the PR count as dropped, `already_posted`)."""
    return measure(result.plan, failed={b.index: (b.error or "", b.failed_paths) for b in result.failed},
                   not_run={b.index for b in result.batches if b.not_run}, dropped=result.dropped,
                   extra_drops=["already_posted"] * already_posted)


def skipped_json(skipped: Iterable[Skipped]) -> list[dict[str, Any]]:
    """Return skipped files as JSON objects."""
    return [{"path": s.path, "reason": s.reason.value} for s in skipped]


def plan_json(plan: Plan, price: Price) -> dict[str, Any]:
    """Return the dry-run plan as JSON."""
    return {
        "batches": [{"files": b.paths, "input_tokens": b.input_tokens, "changed_lines": len(b.changed_lines())}
                    for b in plan.batches],
        "skipped": skipped_json(plan.skipped),
        "changed_lines": plan.changed_lines,
        "covered_lines": plan.covered_lines,
        "masked_secrets": plan.masked_secrets,
        "max_cost_usd": round(max_cost(plan, price), 6),
    }


def result_json(result: ReviewResult, model: str = "") -> dict[str, Any]:
    """Return a finished review as JSON."""
    return {
        "comments": [c.as_dict() for c in result.comments],
        "usage": result.usage.as_dict(),
        "model": model,
        "coverage": coverage_of(result).as_dict(),
        "batches": [{"files": result.plan.batches[b.index].paths,
                     "input_tokens": result.plan.batches[b.index].input_tokens,
                     "status": "failed" if b.error else "over-budget" if b.not_run else "done",
                     **({"error": b.error, "failed_files": list(b.failed_paths)} if b.error else {})}
                    for b in result.batches],
        "skipped": skipped_json(result.skipped),
        "dropped": [d.as_dict() for d in result.dropped],
        "masked_secrets": result.plan.masked_secrets,
    }


def exit_status(coverage: Coverage | None, *, severe: bool, fail_on_unreviewed: bool) -> int:
    """Return the exit code: 1 for a --fail-on finding, 3 when batches failed, 1 when asked to fail on unreviewed lines."""
    if severe:
        return 1
    if coverage is not None and coverage.state == "failed":
        return 3
    if coverage is not None and fail_on_unreviewed and coverage.state in ("nothing", "partial"):
        return 1
    return 0


def coverage_headline(coverage: Coverage) -> list[str]:
    """Return what went wrong in words: failed batches, nothing reviewed, or a part left out (nothing if complete)."""
    state = coverage.state
    if state == "failed":
        return [f"Review failed: {len(coverage.failed)} of {coverage.batches} batches failed"] + [
            f"  batch {f.number} failed ({', '.join(f.paths)}): {f.error}" for f in coverage.failed]
    if state in ("nothing", "empty"):
        return [f"Nothing was reviewed: {coverage.reason}."]
    return [f"Partly reviewed: {coverage.reason}."] if state == "partial" else []


def coverage_tail(coverage: Coverage) -> list[str]:
    """Return the lines every text output ends with: what was not reviewed, and dropped comments by reason."""
    lines = [f"reviewed: {coverage.reviewed_lines:,} of {coverage.changed_lines:,} changed lines, "
             f"{coverage.answered} of {coverage.batches} batch(es) answered"]
    rows = [f"  {u.path} ({u.reason})" for u in coverage.not_reviewed]
    lines += ["not reviewed:", *rows] if rows else ["not reviewed: nothing"]
    by_reason = ", ".join(f"{reason}: {n}" for reason, n in coverage.dropped)
    lines.append(f"dropped comments: {coverage.dropped_total}" + (f" ({by_reason})" if by_reason else ""))
    return lines


def _skips_text(skipped: Iterable[Skipped]) -> list[str]:
    """Return the "not reviewed" section, or nothing when every file was reviewed."""
    rows = [f"  {s.path} ({s.reason.value})" for s in skipped]
    return ["not reviewed:", *rows] if rows else []


def plan_text(plan: Plan, price: Price) -> str:
    """Return the dry-run plan for people."""
    if not plan.batches and not plan.skipped:
        return "Nothing to review: no changed lines since the base."
    lines = [f"{len(plan.batches)} batch(es), {plan.input_tokens:,} input tokens, "
             f"{plan.covered_lines}/{plan.changed_lines} changed lines covered, "
             f"at most ${max_cost(plan, price):.4f}"]
    for b in plan.batches:
        lines.append(f"  batch {b.index + 1}: {b.input_tokens:,} tokens, {len(b.changed_lines())} changed lines: "
                     + ", ".join(b.paths))
    if plan.masked_secrets:
        lines.append(f"{plan.masked_secrets} secret-looking value(s) masked")
    lines.extend(_skips_text(plan.skipped))
    return "\n".join(lines)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def result_text(result: ReviewResult) -> str:
    """Return a finished review for people: comments by file, what went wrong, the spend, what was left out."""
    lines: list[str] = []
    path = None
    for c in result.comments:
        if c.path != path:
            path = c.path
            lines.append(path)
        where = f"{c.start_line}-{c.line}" if c.start_line else str(c.line)
        side = " (old)" if c.side.value == "LEFT" else ""
        lines.append(f"  line {where}{side} [{c.severity.value}]")
        lines.append(_indent(c.body, "    "))
        if c.suggestion is not None:
            lines.append("    suggested replacement:")
            lines.append(_indent(c.suggestion, "      | ") if c.suggestion else "      | (delete the lines)")
    coverage = coverage_of(result)
    if not result.comments and coverage.state == "complete":
        lines.append("No problems found.")
    lines.extend(coverage_headline(coverage))
    u = result.usage
    lines.append(f"{len(result.comments)} comment(s) ({severity_counts(result.comments)}); "
                 f"{u.prompt_tokens:,} input + {u.completion_tokens:,} output tokens, "
                 f"${u.cost_usd:.4f}{' (estimated)' if u.estimated else ''}")
    lines.extend(coverage_tail(coverage))
    return "\n".join(lines)


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """Return a PR run's outcome as JSON."""
    m = outcome.marker
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "head_sha": outcome.head_sha,
        "review_url": outcome.review_url,
        "comments": [c.as_dict() for c in outcome.comments],
        "unplaced": [c.as_dict() for c in outcome.unplaced],
        "usage": outcome.usage.as_dict(),
        "pull_request_total": {"reviews": m.reviews, "prompt_tokens": m.prompt_tokens,
                               "completion_tokens": m.completion_tokens, "cost_usd": round(m.cost_usd, 6),
                               "budget_usd": outcome.budget_usd},
        "skipped": skipped_json(outcome.skipped),
        "failed_batches": outcome.failed_batches,
        "model": outcome.model,
        "coverage": outcome.coverage.as_dict() if outcome.coverage else None,
    }


def shown_status(outcome: Outcome) -> str:
    """Return the run's status for people: "failed" when every batch failed, never "no-findings"."""
    coverage = outcome.coverage
    if coverage is not None and coverage.failed and coverage.answered == 0:
        return "failed"
    return outcome.status


def outcome_text(outcome: Outcome) -> str:
    """Return a PR run's outcome for people."""
    if outcome.coverage is None:
        return f"Nothing to do: {outcome.reason}."
    u, m, coverage = outcome.usage, outcome.marker, outcome.coverage
    lines = [f"{shown_status(outcome)}: {len(outcome.posted)} comment(s) ({severity_counts(outcome.posted)})"
             + (f" at {outcome.review_url}" if outcome.review_url else "")]
    lines += [f"  {c.path}:{c.line} [{c.severity.value}] {c.body.splitlines()[0] if c.body else ''}"
              for c in outcome.posted]
    if not outcome.posted and coverage.state == "complete":
        lines.append("No new problems found." if dict(coverage.dropped).get("already_posted") else "No problems found.")
    lines.extend(coverage_headline(coverage))
    lines.append(f"this run: {u.prompt_tokens:,} input + {u.completion_tokens:,} output tokens, ${u.cost_usd:.4f}; "
                 f"pull request so far: ${m.cost_usd:.4f} of ${outcome.budget_usd:.2f}")
    lines.extend(coverage_tail(coverage))
    return "\n".join(lines)
