"""The eval's report: JSON for scripts, a table for people. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.eval_scoring import CaseScore, f1, spread, totals


def _row(score: CaseScore, repeated: bool) -> dict[str, Any]:
    spec = score.run.spec
    row = {
        "id": spec.id,
        "language": spec.language,
        "class": spec.kind,
        "seeded": [s.as_dict() for s in spec.seeded],
        "found": score.found,
        "recall": score.recall,
        "precision": score.precision,
        "f1": f1(score.recall, score.precision),
        "comments": [c.as_dict() for c in score.run.comments],
        "noise": score.noise,
        "tokens": score.tokens,
        "cost_usd": round(score.run.cost_usd, 6),
    }
    return {**row, "run": score.run.run} if repeated else row


def _by_run(scores: Sequence[CaseScore]) -> list[list[CaseScore]]:
    runs = sorted({s.run.run for s in scores})
    return [[s for s in scores if s.run.run == r] for r in runs]


def failures(scores: Sequence[CaseScore]) -> list[dict[str, Any]]:
    """Return the case runs whose review did not complete, with why."""
    return [{"id": s.run.spec.id, "run": s.run.run, "errors": list(s.run.errors)} for s in scores if s.run.errors]


def report_json(scores: Sequence[CaseScore], baselines: Mapping[str, Any]) -> dict[str, Any]:
    """Return the report as JSON: a row per case (per run with --repeat), the totals and the blind baselines.

    With more than one run, rows carry `run`, and totals add `runs` and `spread` (min, max, stdev of the
    main figures across runs); when a review failed, a top-level `failed` lists which and why.
    """
    runs = _by_run(scores)
    repeated = len(runs) > 1
    out: dict[str, Any] = {"cases": [_row(s, repeated) for s in scores], "totals": totals(scores),
                           "baselines": dict(baselines)}
    if repeated:
        out["totals"] |= {"runs": len(runs), "spread": spread([totals(r) for r in runs])}
    if failed := failures(scores):
        out["failed"] = failed
    return out


def _found(score: CaseScore) -> str:
    if score.run.errors:
        return "FAILED"
    seeded = len(score.run.spec.seeded)
    if seeded > 1:
        return f"{score.found_problems}/{seeded}"
    return "-" if score.found is None else "yes" if score.found else "no"


def _figure(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _versus(name: str, t: Mapping[str, Any]) -> str:
    return (f"{name}: recall {_figure(t['recall'], '.3f')}, precision {_figure(t['precision'], '.3f')}, "
            f"f1 {_figure(t['f1'], '.3f')}, noise {_figure(t['noise_per_100_lines'], '.2f')}")


def _baseline_lines(baselines: Mapping[str, Any]) -> list[str]:
    best, lift = baselines["best"], baselines["lift"]
    lines = [f"  blind baseline {_versus(name, t)}" for name, t in baselines["reviewers"].items()]
    gains = ", ".join(f"{key} {_figure(lift[key], '+.3f')}" for key in ("f1", "recall", "precision"))
    return [*lines, f"lift over the best blind baseline ({best}): {gains}"]


def report_text(scores: Sequence[CaseScore], baselines: Mapping[str, Any]) -> str:
    """Return a table of the cases, the totals and the blind baselines beside them, for people."""
    repeated = len(_by_run(scores)) > 1
    names = [f"{s.run.spec.id}#{s.run.run}" if repeated else s.run.spec.id for s in scores]
    width = max(len(n) for n in [*names, "case"])
    lines = [f"{'case':<{width}} {'lang':<10} {'class':<22} {'found':<6} {'comments':>8} {'hits':>4} {'noise':>5} "
             f"{'tokens':>7} {'cost':>9} {'wall':>7}"]
    for name, s in zip(names, scores):
        lines.append(f"{name:<{width}} {s.run.spec.language:<10} {s.run.spec.kind:<22} {_found(s):<6} "
                     f"{len(s.run.comments):>8} {s.hits:>4} {s.noise:>5} {s.tokens:>7,} {f'${s.run.cost_usd:.5f}':>9} "
                     f"{s.run.wall_s:>6.1f}s")
    t = totals(scores)
    lines.append(
        f"recall {_figure(t['recall'], '.3f')} ({sum(s.found_problems for s in scores)}/"
        f"{sum(len(s.run.spec.seeded) for s in scores)} seeded problems found); "
        f"precision {_figure(t['precision'], '.3f')} ({sum(s.hits for s in scores)}/"
        f"{sum(len(s.run.comments) for s in scores)} comments hit one); f1 {_figure(t['f1'], '.3f')}")
    lines.append(
        f"noise {_figure(t['noise_per_100_lines'], '.2f')} comments per 100 changed lines "
        f"({sum(s.noise for s in scores)} on {sum(s.run.changed_lines for s in scores):,} lines); "
        f"anchoring {_figure(t['anchoring'], '.3f')} ({sum(s.anchored for s in scores)}/{sum(s.cited for s in scores)} "
        f"quotes match their line)")
    per_found = "n/a" if t["cost_per_found_usd"] is None else f"${t['cost_per_found_usd']:.5f}"
    lines.append(f"{t['tokens']:,} tokens, ${t['cost_usd']:.4f}, {per_found} per found problem; "
                 f"wall {sum(s.run.wall_s for s in scores):.1f} s summed over cases")
    if repeated:
        for key, figures in spread([totals(r) for r in _by_run(scores)]).items():
            if figures:
                lines.append(f"  {key} over {len(_by_run(scores))} runs: min {figures['min']:g}, max {figures['max']:g}, "
                             f"stdev {figures['stdev']:g}")
    lines += _baseline_lines(baselines)
    for failed in failures(scores):
        lines.append(f"FAILED {failed['id']} (run {failed['run']}): {'; '.join(failed['errors'])}")
    return "\n".join(lines)
