"""The review flow shared by the CLI, the Action and the server: plan, ask, validate, total.

No network of its own: the model is passed in, and batches run on a thread pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from bot.core.batching import Batch, Plan, RequestShape, Skipped, TokenCounter, plan_batches
from bot.core.classify import SkipReason
from bot.core.diff import FileDiff
from bot.core.errors import ModelError, ReviewError
from bot.core.halving import halve
from bot.core.merging import finalise
from bot.core.reply import Comment, Dropped, anchor_entries
from bot.core.reply_reader import read_reply
from bot.core.settings import Settings
from bot.core.spend import Usage, worst_case
from bot.review.ports import BudgetGate, Call, Completion, Model
from bot.review.prompting import Prompts, batch_message

log = logging.getLogger(__name__)

SPLIT_DEPTH = 1  # a cut-off or unreadable reply: retry each half of the batch once, no deeper


@dataclass(frozen=True)
class BatchResult:
    """What one batch gave: comments, drops, spend, or the error that stopped it (or part of it).

    `failed_paths` are the files not reviewed because of `error` (all of the batch's, or a failed half's).
    """

    index: int
    comments: tuple[Comment, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    not_run: bool = False
    failed_paths: tuple[str, ...] = ()

    def __add__(self, other: BatchResult) -> BatchResult:
        errors = [e for e in (self.error, other.error) if e]
        return BatchResult(self.index, self.comments + other.comments, self.dropped + other.dropped,
                           self.usage + other.usage, "; ".join(errors) or None, False,
                           tuple(dict.fromkeys(self.failed_paths + other.failed_paths)))


@dataclass(frozen=True)
class ReviewResult:
    """The outcome of a whole review."""

    plan: Plan
    comments: tuple[Comment, ...]
    dropped: tuple[Dropped, ...]
    usage: Usage
    batches: tuple[BatchResult, ...]

    @property
    def failed(self) -> list[BatchResult]:
        """Return the batches whose model call failed."""
        return [b for b in self.batches if b.error is not None]

    @property
    def failed_files(self) -> list[str]:
        """Return the files left unreviewed by failed model calls or replies, in batch order."""
        return list(dict.fromkeys(path for b in self.failed for path in b.failed_paths))

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        """Return how many comments (or whole replies) were dropped, by reason."""
        counts: dict[str, int] = {}
        for d in self.dropped:
            counts[d.reason] = counts.get(d.reason, 0) + 1
        return counts

    @property
    def skipped(self) -> list[Skipped]:
        """Return what was not reviewed: the plan's skips and batches the budget stopped."""
        extra = [Skipped(path, SkipReason.OVER_BUDGET) for b in self.batches if b.not_run
                 for path in self.plan.batches[b.index].paths]
        return list(self.plan.skipped) + extra


def build_shape(prompts: Prompts, counter: TokenCounter, settings: Settings, files: Sequence[FileDiff] = ()) -> RequestShape:
    """Return how a batch's diff (of some of `files`) becomes a counted request under these settings.

    The overhead holds every `[[paths]]` rule, so that room for the diff is never short; each batch's count holds its own.
    """

    def exact(diff: str) -> int:
        return counter.request(prompts.system, batch_message(prompts, settings, diff, files))

    return RequestShape(counter.request(prompts.system, batch_message(prompts, settings, "", every_rule=True)), exact)


def plan_review(
    files: Sequence[FileDiff],
    settings: Settings,
    *,
    counter: TokenCounter,
    prompts: Prompts,
    budget_left_usd: float | None = None,
    already_skipped: Sequence[Skipped] = (),
) -> Plan:
    """Plan batches; with a budget, keep the most important files whose worst-case cost fits it."""
    price, limits = settings.price, settings.limits

    def affordable(batches: Sequence[Batch]) -> bool:
        return sum(worst_case(b.input_tokens, limits.output_tokens, price) for b in batches) <= budget_left_usd  # type: ignore[operator]

    return plan_batches(
        files, counter=counter, shape=build_shape(prompts, counter, settings, files), limits=limits,
        ignore=settings.ignore, affordable=None if budget_left_usd is None else affordable,
        already_skipped=already_skipped,
    )


class _Budget:
    """Reserve the worst case before a call, settle the real cost after; thread-safe."""

    def __init__(self, left: float | None) -> None:
        self._left = left
        self._lock = threading.Lock()

    def reserve(self, call: Call) -> bool:
        with self._lock:
            if self._left is not None and call.reserved > self._left + 1e-12:
                return False
            if self._left is not None:
                self._left -= call.reserved
            return True

    def settle(self, call: Call) -> None:
        with self._lock:
            if self._left is not None:
                self._left += call.reserved - (call.usage.cost_usd if call.usage else 0.0)


def _usage(completion: Completion, batch: Batch, counter: TokenCounter, settings: Settings) -> Usage:
    prompt, done = completion.prompt_tokens, completion.completion_tokens
    estimated = prompt is None or done is None
    if prompt is not None and prompt != batch.input_tokens:
        log.debug("batch %d: counted %d input tokens, server billed %d (%+.1f%%)", batch.index,
                  batch.input_tokens, prompt, 100.0 * (prompt - batch.input_tokens) / max(prompt, 1))
    prompt = batch.input_tokens if prompt is None else prompt
    done = counter.text(completion.content) if done is None else done
    return Usage(prompt, done, settings.price.cost(prompt, done), 1, estimated, completion.model or "")


def _lost(attempts: int, batch: Batch, settings: Settings) -> Usage:
    """Book attempts that timed out after they were sent: the server may have read (and billed) the prompt."""
    tokens = attempts * batch.input_tokens
    return Usage(tokens, 0, settings.price.cost(tokens, 0), attempts, attempts > 0)


def _read(completion: Completion, batch: Batch) -> tuple[list[Comment], list[Dropped]] | str:
    """Return a reply's comments and drops, or why it cannot be used whole (cut off, or not the JSON asked for)."""
    if completion.finish_reason == "length":
        return "reply cut off at the output token limit (finish_reason: length)"
    entries = read_reply(completion.content)
    return f"reply is unreadable: {entries}" if isinstance(entries, str) else anchor_entries(entries, batch)


class _AllOf:
    """Gates that must all agree; a refusal releases what the others held."""

    def __init__(self, gates: Sequence[BudgetGate]) -> None:
        self._gates = gates

    def reserve(self, call: Call) -> bool:
        held: list[BudgetGate] = []
        for gate in self._gates:
            if not gate.reserve(call):
                for done in held:
                    done.settle(call)
                return False
            held.append(gate)
        return True

    def settle(self, call: Call) -> None:
        for gate in self._gates:
            gate.settle(call)


@dataclass(frozen=True)
class _Call:
    """What every model call of a review shares."""

    model: Model
    settings: Settings
    counter: TokenCounter
    prompts: Prompts
    budget: BudgetGate
    files: tuple[FileDiff, ...] = ()

    def user(self, diff: str) -> str:
        """Render the user message a diff text makes."""
        return batch_message(self.prompts, self.settings, diff, self.files)

    def exact(self, diff: str) -> int:
        """Count the whole request a diff text makes."""
        return self.counter.request(self.prompts.system, self.user(diff))


def _run_one(batch: Batch, call: _Call, depth: int = 0) -> BatchResult:
    """Ask about one batch; a cut-off or unreadable reply is retried as two halves, else the batch fails."""
    settings = call.settings
    spend = Call(worst_case(batch.input_tokens, settings.output_tokens, settings.price), settings.model,
                 settings.budget_usd)
    if not call.budget.reserve(spend):
        if depth:
            return BatchResult(batch.index, error="no budget left to retry", failed_paths=tuple(batch.paths))
        return BatchResult(batch.index, not_run=True)
    try:
        completion = call.model.complete(call.prompts.system, call.user(batch.diff_text),
                                         max_tokens=settings.output_tokens, schema=call.prompts.reply_schema,
                                         timeout_s=settings.read_timeout_s(batch.input_tokens))
    except ModelError as exc:
        lost = _lost(exc.lost_attempts, batch, settings)
        call.budget.settle(replace(spend, usage=lost if lost.calls else None))
        return BatchResult(batch.index, usage=lost, error=str(exc), failed_paths=tuple(batch.paths))
    usage = _usage(completion, batch, call.counter, settings) + _lost(completion.lost_attempts, batch, settings)
    call.budget.settle(replace(spend, usage=usage))
    try:
        return _answer(batch, call, completion, usage, depth)
    except ReviewError:
        raise  # a gate that stops the whole review (the server's lost lease)
    except Exception as exc:  # the reply is paid for: whatever it does to us costs this batch only
        log.warning("batch %d: reading the reply failed: %r", batch.index + 1, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return BatchResult(batch.index, usage=usage, error=f"reading the reply failed ({type(exc).__name__})",
                           failed_paths=tuple(batch.paths))


def _answer(batch: Batch, call: _Call, completion: Completion, usage: Usage, depth: int) -> BatchResult:
    """Read a paid reply; a cut-off or unreadable one is retried as two halves, else the batch fails."""
    problem = _read(completion, batch)
    if not isinstance(problem, str):  # read: its comments and drops
        return BatchResult(batch.index, tuple(problem[0]), tuple(problem[1]), usage)
    halves = halve(batch, call.exact) if depth < SPLIT_DEPTH else None
    if halves is None:
        return BatchResult(batch.index, usage=usage, error=problem, failed_paths=tuple(batch.paths))
    log.warning("batch %d: %s; retrying it as two halves", batch.index + 1, problem)
    first, second = (_run_one(half, call, depth + 1) for half in halves)
    return BatchResult(batch.index, usage=usage) + first + second


def run_review(
    plan: Plan,
    model: Model,
    settings: Settings,
    *,
    counter: TokenCounter,
    prompts: Prompts,
    budget_left_usd: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    gates: Sequence[BudgetGate] = (),
) -> ReviewResult:
    """Send every batch (concurrently), then validate, merge and cap the comments.

    Before each call its worst case is held against the budget and every extra gate
    (the server's monthly budgets); a batch that does not fit is not sent.
    """
    call = _Call(model, settings, counter, prompts, _AllOf([_Budget(budget_left_usd), *gates]),
                 tuple(f for b in plan.batches for f, _ in b.parts))
    results: list[BatchResult] = []
    lock = threading.Lock()

    def work(batch: Batch) -> BatchResult:
        try:
            result = _run_one(batch, call)
        except ReviewError:
            raise  # a gate that stops the whole review (the server's lost lease)
        except Exception as exc:  # one batch's failure is that batch's, never the whole review's
            log.warning("batch %d failed: %r", batch.index + 1, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            result = BatchResult(batch.index, error=f"the batch failed ({type(exc).__name__})",
                                 failed_paths=tuple(batch.paths))
        with lock:
            results.append(result)
            if on_progress:
                on_progress(len(results), len(plan.batches))
        return result

    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        list(pool.map(work, plan.batches))
    results.sort(key=lambda r: r.index)
    raw = [c for r in results for c in r.comments]
    comments, capped = finalise(raw, max_comments=settings.max_comments, min_severity=settings.min_severity)
    dropped = [d for r in results for d in r.dropped] + capped
    usage = sum((r.usage for r in results), Usage())
    return ReviewResult(plan, tuple(comments), tuple(dropped), usage, tuple(results))
