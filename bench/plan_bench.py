"""Benchmark the planner on real diffs: token overhead on every fixture diff; time, batch count, coverage.

Token figures are exact and cover every diff in tests/fixtures/diffs; timings (two diffs only)
are ratios against a baseline measured in the same run (Tekken-encoding the raw diff once),
because these machines are noisy. Run: python bench/plan_bench.py
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.diff import parse_diff  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from bot.llm.tokens import default_counter  # noqa: E402
from bot.review.engine import build_shape, plan_review  # noqa: E402
from bot.review.prompting import load_prompts  # noqa: E402
from bot.review.report import max_cost  # noqa: E402

DIFFS = ROOT / "tests" / "fixtures" / "diffs"
TIMED = {"medium-multi-file.diff", "huge-commit-vendoring.diff"}
NO_IGNORE = {"huge-commit-vendoring.diff"}  # vendored globs off, so the vendored code is planned
RUNS = 5


def _median_seconds(fn: object, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, ignore: tuple[str, ...] | None, timed: bool) -> dict[str, object]:
    """Return the planner's figures on one diff (timings only when `timed`)."""
    counter, prompts = default_counter(), load_prompts()
    settings = Settings() if ignore is None else Settings().with_values({"ignore": list(ignore)})
    raw = (DIFFS / name).read_bytes()
    text = raw.decode("utf-8", errors="replace")
    files = parse_diff(raw)
    plan = plan_review(files, settings, counter=counter, prompts=prompts)
    sent = {p for b in plan.batches for p in b.paths}
    # Tekken tokens of the raw changed hunks (as git printed them) of the files that were sent
    raw_hunks = sum(counter.text("".join(_hunk_lines(f))) for f in files if f.path in sent)
    overhead = build_shape(prompts, counter, settings).overhead
    room = settings.limits.input_tokens - overhead
    diff_tokens = plan.input_tokens - overhead * len(plan.batches)
    row: dict[str, object] = {
        "diff": name, "changed_lines": plan.changed_lines, "batches": len(plan.batches),
        "input_tokens": plan.input_tokens, "raw_hunk_tokens": raw_hunks,
        "diff_token_ratio": round(diff_tokens / raw_hunks, 3) if raw_hunks else None,
        "fixed_prompt_tokens_per_batch": overhead,
        "batch_ratio": round(len(plan.batches) / max(1, math.ceil(diff_tokens / room)), 3),
        "coverage": round(plan.covered_lines / max(1, plan.changed_lines), 3),
        "input_cost_usd": round(settings.price.cost(plan.input_tokens, 0), 4),
        "max_cost_usd": round(max_cost(plan, settings.price), 4),
    }
    if timed:
        plan_s = _median_seconds(lambda: plan_review(parse_diff(raw), settings, counter=counter, prompts=prompts))
        base_s = _median_seconds(lambda: counter.text(text))
        row |= {"plan_seconds": round(plan_s, 3), "baseline_tokenize_seconds": round(base_s, 3),
                "plan_time_ratio": round(plan_s / base_s, 2)}
    return row


def _hunk_lines(file):  # type: ignore[no-untyped-def]
    for h in file.hunks:
        section = f" {h.section}" if h.section else ""
        yield f"@@ -{h.old_start},{h.old_len} +{h.new_start},{h.new_len} @@{section}\n"
        for ln in h.lines:
            yield f"{ln.kind.value}{ln.text}\n"


if __name__ == "__main__":
    default_counter()  # load the tokenizer outside the timings
    rows = [measure(p.name, () if p.name in NO_IGNORE else None, p.name in TIMED) for p in sorted(DIFFS.glob("*.diff"))]
    print(json.dumps(rows, indent=2))
