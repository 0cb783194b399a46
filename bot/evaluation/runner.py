"""Run a suite through the real review flow (plan_review, run_review), as `review --diff-file` does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.core.batching import Counter
from bot.core.eval_scoring import CaseRun, line_texts, reply_entries
from bot.core.masking import mask_file
from bot.core.settings import Settings
from bot.evaluation.suite import Case
from bot.review.engine import plan_review, run_review
from bot.review.ports import Completion, Model
from bot.review.prompting import Prompts


class _Recording:
    """A model that passes every call through and keeps the raw reply texts (for the anchoring score)."""

    def __init__(self, model: Model) -> None:
        self._model = model
        self._lock = threading.Lock()
        self.contents: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)  # anything else the flow asks of its model

    def complete(self, system: str, user: str, **options: Any) -> Completion:
        """Ask the wrapped model and keep its reply's text."""
        completion = self._model.complete(system, user, **options)
        with self._lock:
            self.contents.append(completion.content or "")
        return completion


def run_case(case: Case, model: Model, settings: Settings, *, counter: Counter, prompts: Prompts,
             run: int = 1) -> CaseRun:
    """Review one case's diff with the real flow and return what came back, timed."""
    recording = _Recording(model)
    started = time.monotonic()
    plan = plan_review(case.files, settings, counter=counter, prompts=prompts, budget_left_usd=settings.budget_usd)
    result = run_review(plan, recording, settings, counter=counter, prompts=prompts,
                        budget_left_usd=settings.budget_usd)
    wall = time.monotonic() - started
    errors = [f"batch {b.index + 1}: {b.error}" for b in result.failed]
    errors += [f"batch {b.index + 1}: not sent, over the budget" for b in result.batches if b.not_run]
    errors += [f"{s.path}: not reviewed ({s.reason.value})" for s in result.skipped
               if any(seeded.path == s.path for seeded in case.spec.seeded)]
    u = result.usage
    seen = line_texts(mask_file(f)[0] for f in case.files)  # anchoring is judged on the text the model was sent
    return CaseRun(case.spec, result.comments, tuple(reply_entries(recording.contents)), seen,
                   plan.changed_lines, u.prompt_tokens, u.completion_tokens, u.cost_usd, wall, tuple(errors), run)


def run_suite(cases: Sequence[Case], model: Model, settings: Settings, *, counter: Counter, prompts: Prompts,
              repeat: int = 1, on_progress: Callable[[int, int], None] | None = None) -> list[CaseRun]:
    """Run every case `repeat` times, `settings.concurrency` cases at once; results in suite order, run by run."""
    jobs = [(run, case) for run in range(1, repeat + 1) for case in cases]
    lock = threading.Lock()
    done = [0]

    def work(job: tuple[int, Case]) -> CaseRun:
        result = run_case(job[1], model, settings, counter=counter, prompts=prompts, run=job[0])
        with lock:
            done[0] += 1
            if on_progress:
                on_progress(done[0], len(jobs))
        return result

    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        return list(pool.map(work, jobs))
