"""Run a suite through the real review flow (plan_review, run_review), as `review --diff-file` does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bot.core.batching import Plan, TokenCounter
from bot.core.eval_scoring import CaseRun, line_texts, reply_entries
from bot.core.masking import mask_file
from bot.core.settings import Settings
from bot.evaluation.suite import Case
from bot.review.engine import plan_review, run_review
from bot.review.ports import Completion, Model
from bot.review.prompting import Prompts
from bot.review.report import max_cost


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


@dataclass(frozen=True)
class Planned:
    """One case, the settings it is reviewed under (its own `[[paths]]` first) and its plan."""

    case: Case
    settings: Settings
    plan: Plan

    @property
    def max_cost_usd(self) -> float:
        """Return the most one review of the case can cost: every batch's input and reserved output, priced."""
        return max_cost(self.plan, self.settings.price)


def plan_suite(cases: Sequence[Case], settings: Settings, *, counter: TokenCounter, prompts: Prompts) -> list[Planned]:
    """Plan every case's review, as `review --diff-file` would, under the case's own settings."""
    planned = []
    for case in cases:
        own = settings.with_values({"paths": case.spec.paths + settings.paths}) if case.spec.paths else settings
        plan = plan_review(case.files, own, counter=counter, prompts=prompts, budget_left_usd=own.budget_usd)
        planned.append(Planned(case, own, plan))
    return planned


def run_case(planned: Planned, model: Model, *, counter: TokenCounter, prompts: Prompts, run: int = 1) -> CaseRun:
    """Review one planned case with the real flow and return what came back, timed."""
    case, settings, plan = planned.case, planned.settings, planned.plan
    recording = _Recording(model)
    started = time.monotonic()
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


def run_suite(planned: Sequence[Planned], model: Model, *, counter: TokenCounter, prompts: Prompts, concurrency: int,
              repeat: int = 1, on_progress: Callable[[int, int], None] | None = None) -> list[CaseRun]:
    """Run every planned case `repeat` times, `concurrency` cases at once; results in suite order, run by run."""
    jobs = [(run, case) for run in range(1, repeat + 1) for case in planned]
    lock = threading.Lock()
    done = [0]

    def work(job: tuple[int, Planned]) -> CaseRun:
        result = run_case(job[1], model, counter=counter, prompts=prompts, run=job[0])
        with lock:
            done[0] += 1
            if on_progress:
                on_progress(done[0], len(jobs))
        return result

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(work, jobs))
