"""Score review quality on seeded-problem and clean cases: recall, precision, noise, anchoring, spend. Pure.

A comment hits a seeded problem when it cites a line inside the problem's range (`line`..`end_line`, same
path and side; a range comment hits when its lines overlap it) at the case's minimum severity or above; no
line nearby counts. Each `[[seeded]]` entry is one problem (a case holds up to three). Recall is problems hit
÷ problems seeded; precision is comments that hit ÷ all comments kept (every comment on a clean case misses);
noise counts the comments on no seeded line at all. Anchoring is measured on the model's raw reply, before our
re-anchoring: the share of cited comments whose `quote` is the text of the line they cite.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.diff import FileDiff, LineKind, Side
from bot.core.guidance import GuidanceError, PathRule, parse_path_rules
from bot.core.reply import Comment, line_number
from bot.core.reply_reader import read_reply
from bot.core.severity import Severity
from bot.core.tomlfile import TomlError, load_toml

CLEAN = "clean"
CLASSES = frozenset({
    "off-by-one", "inverted-condition", "null-dereference", "resource-leak", "injection", "secret-in-code",
    "wrong-argument-order", "swallowed-exception", "race-condition", "wrong-unit-or-constant", CLEAN,
    "logic-error", "error-handling", "api-misuse", "security", "concurrency", "performance", "data-loss", "type-error",
    "integer-overflow", "path-traversal",
})
LANGUAGES = frozenset({"python", "javascript", "typescript", "go", "java", "rust", "csharp", "ruby", "php", "c"})

LineTexts = Mapping[tuple[str, Side, int], str]
MAX_SEEDED = 3  # problems in one case


class CaseError(ValueError):
    """A case's TOML is missing something or says something impossible."""


@dataclass(frozen=True)
class Seeded:
    """One seeded problem: a line, or lines `line`..`end_line`, anchored as GitHub would anchor them."""

    path: str
    line: int
    side: Side
    end_line: int | None = None

    @property
    def last(self) -> int:
        """Return the problem's last line."""
        return self.line if self.end_line is None else self.end_line

    def as_dict(self) -> dict[str, Any]:
        """Return the problem's place as JSON."""
        out: dict[str, Any] = {"path": self.path, "line": self.line, "side": self.side.value}
        return out if self.end_line is None else {**out, "end_line": self.end_line}


@dataclass(frozen=True)
class CaseSpec:
    """What a case's TOML says: language, problem class, seeded problems, the least severity that counts, guidance."""

    id: str
    language: str
    kind: str
    seeded: tuple[Seeded, ...]
    min_severity: Severity = Severity.MINOR
    source: str = ""
    paths: tuple[PathRule, ...] = ()  # the case's own `[[paths]]` instructions, as a repo config would give them

    @property
    def clean(self) -> bool:
        """Return whether the case has no seeded problem (a refactor with no bug)."""
        return self.kind == CLEAN


def _line(entry: dict[str, Any], key: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CaseError(f"seeded {entry.get('path')}: {key} must be a positive line number, not {value!r}")
    return value


def _seeded(entry: Any) -> Seeded:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise CaseError("each [[seeded]] needs a path")
    line, side = _line(entry, "line"), str(entry.get("side", "RIGHT")).upper()
    end = None if entry.get("end_line") is None else _line(entry, "end_line")
    if side not in ("LEFT", "RIGHT"):
        raise CaseError(f"seeded {entry['path']}:{line}: side must be LEFT or RIGHT")
    if end is not None and end < line:
        raise CaseError(f"seeded {entry['path']}:{line}: end_line {end} is before line")
    return Seeded(entry["path"], line, Side(side), end)


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
        if len(seeded) > MAX_SEEDED:
            raise CaseError(f"a case holds at most {MAX_SEEDED} seeded problems, not {len(seeded)}")
        severity = Severity(str(data.get("min_severity", "minor")).lower())
        paths = parse_path_rules(data["paths"]) if "paths" in data else ()
    except (CaseError, GuidanceError, ValueError) as exc:
        raise CaseError(f"case {case_id}: {exc}") from None
    return CaseSpec(case_id, language, kind, seeded, severity, str(data.get("source", "")), paths)


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


def on_seeded(comment: Comment, seeded: Seeded) -> bool:
    """Return whether a comment cites a line inside a seeded problem's range (its own range overlapping it)."""
    if comment.path != seeded.path or comment.side is not seeded.side:
        return False
    first = comment.start_line if comment.start_line is not None else comment.line
    return first <= seeded.last and seeded.line <= comment.line


def reply_entries(contents: Iterable[str]) -> list[dict[str, Any]]:
    """Return the comment objects of raw model replies, read within the review's bounds; an unreadable reply gives none."""
    entries: list[dict[str, Any]] = []
    for content in contents:
        comments = read_reply(content)
        entries += [c for c in comments if isinstance(c, dict)] if isinstance(comments, list) else []
    return entries


def quote_matches(entry: Mapping[str, Any], texts: LineTexts) -> bool:
    """Return whether a raw comment's quote is the text of the line it cites (spaces squashed)."""
    path, line, quote = entry.get("path"), entry.get("line"), entry.get("quote")
    side = str(entry.get("side") or "RIGHT").upper()
    line = line_number(line)  # the review accepts a number in a string too
    if not isinstance(path, str) or line is None or not isinstance(quote, str) or side not in ("LEFT", "RIGHT"):
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
    """One case run, scored: problems found, comments that hit one, comments on none, anchored raw comments."""

    run: CaseRun
    found_problems: int
    hits: int
    noise: int
    anchored: int
    cited: int

    @property
    def found(self) -> bool | None:
        """Return whether every seeded problem was hit (None for a clean case)."""
        seeded = len(self.run.spec.seeded)
        return None if not seeded else self.found_problems == seeded

    @property
    def recall(self) -> float | None:
        """Return the share of seeded problems hit (None for a clean case)."""
        return _ratio(self.found_problems, len(self.run.spec.seeded))

    @property
    def precision(self) -> float | None:
        """Return the share of kept comments that hit a seeded problem (None with no comment)."""
        return _ratio(self.hits, len(self.run.comments))

    @property
    def tokens(self) -> int:
        """Return input plus output tokens."""
        return self.run.prompt_tokens + self.run.completion_tokens


def score_case(run: CaseRun) -> CaseScore:
    """Score one case run: problems hit, comments that hit, noise comments, anchored raw comments."""
    spec = run.spec

    def hits(comment: Comment, seeded: Seeded) -> bool:
        return on_seeded(comment, seeded) and comment.severity.at_least(spec.min_severity)

    found = sum(1 for s in spec.seeded if any(hits(c, s) for c in run.comments))
    hitting = sum(1 for c in run.comments if any(hits(c, s) for s in spec.seeded))
    noise = sum(1 for c in run.comments if not any(on_seeded(c, s) for s in spec.seeded))
    anchored = sum(1 for e in run.raw_entries if quote_matches(e, run.texts))
    return CaseScore(run, found, hitting, noise, anchored, len(run.raw_entries))


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def f1(recall: float | None, precision: float | None) -> float | None:
    """Return the harmonic mean of recall and precision; 0 when nothing hit, None with no seeded problem."""
    if recall is None:
        return None
    if not recall or not precision:
        return 0.0
    return round(2 * recall * precision / (recall + precision), 4)


def totals(scores: Sequence[CaseScore]) -> dict[str, Any]:
    """Return the suite's totals: recall, precision, f1, noise per 100 changed lines, anchoring, tokens and dollars."""
    found = sum(s.found_problems for s in scores)
    lines = sum(s.run.changed_lines for s in scores)
    cost = sum(s.run.cost_usd for s in scores)
    recall = _ratio(found, sum(len(s.run.spec.seeded) for s in scores))
    precision = _ratio(sum(s.hits for s in scores), sum(len(s.run.comments) for s in scores))
    return {
        "cases": len({s.run.spec.id for s in scores}),
        "recall": recall,
        "precision": precision,
        "f1": f1(recall, precision),
        "noise_per_100_lines": _ratio(100 * sum(s.noise for s in scores), lines, 3),
        "anchoring": _ratio(sum(s.anchored for s in scores), sum(s.cited for s in scores)),
        "tokens": sum(s.tokens for s in scores),
        "cost_usd": round(cost, 6),
        "cost_per_found_usd": _ratio(cost, found, 6),
    }


SPREAD_KEYS = ("recall", "precision", "f1", "noise_per_100_lines", "anchoring", "cost_usd")


def spread(per_run: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float] | None]:
    """Return min, max and standard deviation of the main totals across repeated runs of the suite."""
    out: dict[str, dict[str, float] | None] = {}
    for key in SPREAD_KEYS:
        values = [float(t[key]) for t in per_run if t.get(key) is not None]
        out[key] = {"min": min(values), "max": max(values),
                    "stdev": round(statistics.pstdev(values), 6)} if values else None
    return out
