"""Score review quality on seeded-problem and clean cases: recall, noise, anchoring, spend. Pure.

A seeded problem counts as found when a kept comment sits on the same path and side, on or within
NEAR_LINES of a seeded line, with at least the case's minimum severity. Every comment that is not
near a seeded line is noise. Anchoring is measured on the model's raw reply, before our re-anchoring:
the share of cited comments whose `quote` is the text of the line they cite.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.diff import FileDiff, LineKind, Side
from bot.core.reply import Comment
from bot.core.severity import Severity
from bot.core.tomlfile import TomlError, load_toml

NEAR_LINES = 2
CLEAN = "clean"
CLASSES = frozenset({
    "off-by-one", "inverted-condition", "null-dereference", "resource-leak", "injection", "secret-in-code",
    "wrong-argument-order", "swallowed-exception", "race-condition", "wrong-unit-or-constant", CLEAN,
})
LANGUAGES = frozenset({"python", "javascript", "typescript", "go"})

LineTexts = Mapping[tuple[str, Side, int], str]


class CaseError(ValueError):
    """A case's TOML is missing something or says something impossible."""


@dataclass(frozen=True)
class Seeded:
    """One line of a seeded problem, anchored as GitHub would anchor it."""

    path: str
    line: int
    side: Side

    def as_dict(self) -> dict[str, Any]:
        """Return the line as JSON."""
        return {"path": self.path, "line": self.line, "side": self.side.value}


@dataclass(frozen=True)
class CaseSpec:
    """What a case's TOML says: its language, problem class, seeded lines and the least severity that counts."""

    id: str
    language: str
    kind: str
    seeded: tuple[Seeded, ...]
    min_severity: Severity = Severity.MINOR
    source: str = ""

    @property
    def clean(self) -> bool:
        """Return whether the case has no seeded problem (a refactor with no bug)."""
        return self.kind == CLEAN


def _seeded(entry: Any) -> Seeded:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise CaseError("each [[seeded]] needs a path")
    line, side = entry.get("line"), str(entry.get("side", "RIGHT")).upper()
    if isinstance(line, bool) or not isinstance(line, int) or line < 1 or side not in ("LEFT", "RIGHT"):
        raise CaseError(f"seeded line {entry.get('path')}:{line} needs a positive line and side LEFT or RIGHT")
    return Seeded(entry["path"], line, Side(side))


def parse_case(case_id: str, text: str) -> CaseSpec:
    """Read one case's TOML; raise CaseError with a one-line reason when it is not usable."""
    try:
        data = load_toml(text)
    except TomlError as exc:
        raise CaseError(f"case {case_id}: {exc}") from None
    try:
        kind, language = data.get("class"), data.get("language")
        if kind not in CLASSES:
            raise CaseError(f"class must be one of {', '.join(sorted(CLASSES))}, not {kind!r}")
        if language not in LANGUAGES:
            raise CaseError(f"language must be one of {', '.join(sorted(LANGUAGES))}, not {language!r}")
        entries = data.get("seeded", [])
        if not isinstance(entries, list):
            raise CaseError("seeded must be [[seeded]] tables")
        seeded = tuple(_seeded(e) for e in entries)
        if (kind == CLEAN) != (not seeded):
            raise CaseError("a clean case has no seeded lines; any other case has at least one")
        severity = Severity(str(data.get("min_severity", "minor")).lower())
    except (CaseError, ValueError) as exc:
        raise CaseError(f"case {case_id}: {exc}") from None
    return CaseSpec(case_id, language, kind, seeded, severity, str(data.get("source", "")))


def line_texts(files: Iterable[FileDiff]) -> dict[tuple[str, Side, int], str]:
    """Return the text of every line of a diff by its anchor (path, side, number)."""
    texts: dict[tuple[str, Side, int], str] = {}
    for file in files:
        for hunk in file.hunks:
            for ln in hunk.lines:
                if ln.kind is not LineKind.REMOVED:
                    texts.setdefault((file.path, Side.RIGHT, ln.new_no or 0), ln.text)
                if ln.kind is not LineKind.ADDED:
                    texts.setdefault((file.path, Side.LEFT, ln.old_no or 0), ln.text)
    return texts


def near(comment: Comment, seeded: Seeded) -> bool:
    """Return whether a comment (or its line range) is on, or within NEAR_LINES of, a seeded line."""
    if comment.path != seeded.path or comment.side is not seeded.side:
        return False
    first = comment.start_line if comment.start_line is not None else comment.line
    return first - NEAR_LINES <= seeded.line <= comment.line + NEAR_LINES


def reply_entries(contents: Iterable[str]) -> list[dict[str, Any]]:
    """Return the comment objects of raw model replies; a reply that holds no JSON object gives none."""
    entries: list[dict[str, Any]] = []
    for content in contents:
        start, end = content.find("{"), content.rfind("}")
        try:
            data = json.loads(content[start:end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            data = None
        comments = data.get("comments") if isinstance(data, dict) else None
        entries += [c for c in comments or [] if isinstance(c, dict)]
    return entries


def quote_matches(entry: Mapping[str, Any], texts: LineTexts) -> bool:
    """Return whether a raw comment's quote is the text of the line it cites (spaces squashed)."""
    path, line, quote = entry.get("path"), entry.get("line"), entry.get("quote")
    side = str(entry.get("side") or "RIGHT").upper()
    if isinstance(line, str) and line.strip().isdigit():
        line = int(line)  # the review accepts a number in a string too
    if not isinstance(path, str) or isinstance(line, bool) or not isinstance(line, int) or not isinstance(quote, str) \
            or side not in ("LEFT", "RIGHT"):
        return False
    text = texts.get((path, Side(side), line))
    return text is not None and " ".join(text.split()) == " ".join(quote.split())


@dataclass(frozen=True)
class CaseRun:
    """What one review of one case gave, as plain data from the edge."""

    spec: CaseSpec
    comments: tuple[Comment, ...]
    raw_entries: tuple[dict[str, Any], ...]
    texts: LineTexts
    changed_lines: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    errors: tuple[str, ...] = ()
    run: int = 1


@dataclass(frozen=True)
class CaseScore:
    """One case run, scored."""

    run: CaseRun
    found: bool | None
    noise: int
    anchored: int
    cited: int

    @property
    def tokens(self) -> int:
        """Return input plus output tokens."""
        return self.run.prompt_tokens + self.run.completion_tokens


def score_case(run: CaseRun) -> CaseScore:
    """Score one case run: found (None for a clean case), noise comments, anchored raw comments."""
    spec = run.spec
    on_problem = [c for c in run.comments if any(near(c, s) for s in spec.seeded)]
    found = None if spec.clean else any(c.severity.at_least(spec.min_severity) for c in on_problem)
    anchored = sum(1 for e in run.raw_entries if quote_matches(e, run.texts))
    return CaseScore(run, found, len(run.comments) - len(on_problem), anchored, len(run.raw_entries))


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def totals(scores: Sequence[CaseScore]) -> dict[str, Any]:
    """Return the suite's totals: recall, noise per 100 changed lines, anchoring, tokens and dollars."""
    seeded = [s for s in scores if s.found is not None]
    found = sum(1 for s in seeded if s.found)
    lines = sum(s.run.changed_lines for s in scores)
    cost = sum(s.run.cost_usd for s in scores)
    return {
        "cases": len({s.run.spec.id for s in scores}),
        "recall": _ratio(found, len(seeded)),
        "noise_per_100_lines": _ratio(100 * sum(s.noise for s in scores), lines, 3),
        "anchoring": _ratio(sum(s.anchored for s in scores), sum(s.cited for s in scores)),
        "tokens": sum(s.tokens for s in scores),
        "cost_usd": round(cost, 6),
        "cost_per_found_usd": _ratio(cost, found, 6),
    }


SPREAD_KEYS = ("recall", "noise_per_100_lines", "anchoring", "cost_usd")


def spread(per_run: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float] | None]:
    """Return min, max and standard deviation of the main totals across repeated runs of the suite."""
    out: dict[str, dict[str, float] | None] = {}
    for key in SPREAD_KEYS:
        values = [float(t[key]) for t in per_run if t.get(key) is not None]
        out[key] = {"min": min(values), "max": max(values),
                    "stdev": round(statistics.pstdev(values), 6)} if values else None
    return out
