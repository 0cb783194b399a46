"""Location-blind reviewers: what commenting without reading the code scores on a suite. Pure; no model call.

Each one comments at `critical` (so a case's minimum severity never stops it) on added lines it picks blindly:
the first of each file, the last, every one, or one drawn per file by a hash of a fixed seed, the case id and
the path (the same line on every run and machine). They see the files a review would send (the ignore globs apply)
and are not capped by `max_comments`. A model that does not beat the best of them has not shown it reads the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bot.core.classify import file_skip_reason
from bot.core.diff import DiffLine, FileDiff, LineKind, Side
from bot.core.eval_scoring import CaseRun, CaseScore, CaseSpec, score_case, totals
from bot.core.reply import Comment
from bot.core.severity import Severity

SEED = "mistral-review-eval-1"
LIFT_KEYS = ("f1", "recall", "precision")


def _random(case_id: str, path: str, added: list[DiffLine]) -> list[DiffLine]:
    """Pick one line by a hash of the seed, case and path: no generator state, the same pick everywhere."""
    digest = hashlib.sha256(f"{SEED}:{case_id}:{path}".encode()).digest()
    return [added[int.from_bytes(digest[:8], "big") % len(added)]]


PICKS: dict[str, Callable[[str, str, list[DiffLine]], list[DiffLine]]] = {
    "first-line": lambda case_id, path, added: added[:1],
    "last-line": lambda case_id, path, added: added[-1:],
    "every-line": lambda case_id, path, added: added,
    "random": _random,
}
REVIEWERS = tuple(PICKS)


def blind_run(name: str, spec: CaseSpec, files: Iterable[FileDiff], *, ignore: Sequence[str]) -> CaseRun:
    """Return what reviewer `name` says about one case, as a run with no tokens and no cost."""
    reviewed = [f for f in files if file_skip_reason(f, ignore=ignore) is None]
    comments: list[Comment] = []
    for file in reviewed:
        added = [ln for h in file.hunks for ln in h.lines if ln.kind is LineKind.ADDED]
        if added:
            comments += [Comment(file.path, ln.line, Side.RIGHT, Severity.CRITICAL, f"The {name} reviewer flags this.",
                                 ln.text) for ln in PICKS[name](spec.id, file.path, added)]
    return CaseRun(spec, tuple(comments), (), {}, sum(f.changed_count for f in reviewed))


def blind_scores(name: str, cases: Iterable[tuple[CaseSpec, Sequence[FileDiff]]], *,
                 ignore: Sequence[str]) -> list[CaseScore]:
    """Score reviewer `name` on every case."""
    return [score_case(blind_run(name, spec, files, ignore=ignore)) for spec, files in cases]


def _lift(model: float | None, best: float | None) -> float | None:
    return None if model is None or best is None else round(model - best, 4)


def baselines(cases: Sequence[tuple[CaseSpec, Sequence[FileDiff]]], model_totals: Mapping[str, Any], *,
              ignore: Sequence[str]) -> dict[str, Any]:
    """Return every blind reviewer's totals, the best of them by f1, and the lift of `model_totals` over it."""
    reviewers = {name: totals(blind_scores(name, cases, ignore=ignore)) for name in REVIEWERS}
    best = max(REVIEWERS, key=lambda name: reviewers[name]["f1"] or 0.0)  # first listed wins a tie
    lift = {key: _lift(model_totals.get(key), reviewers[best][key]) for key in LIFT_KEYS}
    return {"reviewers": reviewers, "best": best, "lift": lift}
