"""A repo's guidance to the model: per-path instructions (`[[paths]]`) and the comments' language. Pure.

Both come from the repo's TOML (untrusted: anyone who can merge to the base branch writes it), so both are
bounded and checked here before they reach a prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.classify import GlobError, check_globs, matches

RULE_CHARS = 2_000  # one `[[paths]]` entry's instructions
RULES_CHARS = 8_000  # all entries together
MAX_RULES = 50
LANGUAGE_CHARS = 32
LANGUAGE_WORDS = 3


class GuidanceError(ValueError):
    """A `[[paths]]` table or a `language` that cannot be used."""


@dataclass(frozen=True)
class PathRule:
    """Instructions for the files one gitignore-style glob matches."""

    glob: str
    instructions: str

    def as_dict(self) -> dict[str, str]:
        """Return the rule as its TOML table."""
        return {"glob": self.glob, "instructions": self.instructions}


def _rule(number: int, entry: Any) -> PathRule:
    if isinstance(entry, PathRule):
        entry = entry.as_dict()
    if not isinstance(entry, dict) or set(entry) != {"glob", "instructions"}:
        raise GuidanceError(f"paths entry {number} needs exactly a glob and instructions")
    glob, text = entry["glob"], entry["instructions"]
    if not isinstance(glob, str) or not glob.strip() or "\n" in glob or not isinstance(text, str) or not text.strip():
        raise GuidanceError(f"paths entry {number}: glob and instructions must be non-empty strings (one-line glob)")
    if len(text) > RULE_CHARS:
        raise GuidanceError(f"paths entry {number} ({glob.strip()}): instructions are {len(text):,} characters, "
                            f"over the {RULE_CHARS:,} cap")
    try:
        check_globs([glob.strip()])
    except GlobError as exc:
        raise GuidanceError(f"paths entry {number}: {exc}") from None
    return PathRule(glob.strip(), text.strip())


def parse_path_rules(value: Any) -> tuple[PathRule, ...]:
    """Check a `[[paths]]` table (a list of {glob, instructions}); any entry over a cap rejects the whole table."""
    if not isinstance(value, (list, tuple)):
        raise GuidanceError("paths must be an array of tables ([[paths]]) with glob and instructions")
    if len(value) > MAX_RULES:
        raise GuidanceError(f"paths holds {len(value)} entries, over the {MAX_RULES} cap")
    rules = tuple(_rule(i, entry) for i, entry in enumerate(value, 1))
    total = sum(len(r.instructions) for r in rules)
    if total > RULES_CHARS:
        raise GuidanceError(f"paths: instructions are {total:,} characters in all, over the {RULES_CHARS:,} cap")
    return rules


def rules_for(rules: Sequence[PathRule], paths: Iterable[str]) -> tuple[PathRule, ...]:
    """Return the rules whose glob matches at least one of the paths, in the table's order."""
    paths = list(paths)
    return tuple(r for r in rules if any(matches(p, [r.glob]) for p in paths))


def check_language(value: Any) -> str:
    """Return a review language name ("French", "fr", "pt-BR"), or raise: letters, spaces and hyphens, short."""
    if not isinstance(value, str):
        raise GuidanceError("language must be a string such as \"French\" or \"fr\"")
    name = " ".join(value.split())
    if len(name) > LANGUAGE_CHARS or len(name.split()) > LANGUAGE_WORDS \
            or not all(c.isalpha() or c in " -" for c in name) or (name and not name[0].isalpha()):
        raise GuidanceError(f"language must be a language's name or code ({LANGUAGE_WORDS} words, "
                            f"{LANGUAGE_CHARS} characters at most; letters, spaces and hyphens only)")
    return name
