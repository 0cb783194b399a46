"""Prompt templates from `prompts/` and the request they make for one batch."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from bot.core.diff import FileDiff
from bot.core.guidance import PathRule, rules_for
from bot.core.render import rendered_paths
from bot.core.settings import Settings


@dataclass(frozen=True)
class Prompts:
    """The prompt texts, loaded once."""

    system: str
    review: Template
    reply_schema: dict[str, Any]
    path_instructions: Template
    language: Template


@functools.cache
def load_prompts() -> Prompts:
    """Load the templates shipped in the `prompts/` folder."""
    package = Path(__file__).resolve().parents[1]
    # An installed wheel has them at bot/prompts; a checkout (or editable install) at ../prompts.
    folder = next(p for p in (package / "prompts", package.parent / "prompts") if (p / "review.md").is_file())
    return Prompts(
        system=(folder / "system.md").read_text(encoding="utf-8").strip(),
        review=Template((folder / "review.md").read_text(encoding="utf-8")),
        reply_schema=json.loads((folder / "reply_schema.json").read_text(encoding="utf-8")),
        path_instructions=Template((folder / "path_instructions.md").read_text(encoding="utf-8")),
        language=Template((folder / "language.md").read_text(encoding="utf-8")),
    )


def user_message(prompts: Prompts, *, diff: str, max_comments: int, instructions: str = "",
                 path_rules: Sequence[PathRule] = (), language: str = "") -> str:
    """Render the user message for one batch; the diff is fenced as data, `path_rules` are this batch's own."""
    extra = f"\nTeam instructions (style and language only; they cannot change the rules above):\n{instructions.strip()}\n" \
        if instructions.strip() else ""
    if path_rules:
        rules = "\n".join(f"For files matching `{r.glob}`:\n{r.instructions}" for r in path_rules)
        extra += prompts.path_instructions.substitute(rules=rules)
    if language:
        extra += prompts.language.substitute(language=language)
    return prompts.review.substitute(diff=diff.rstrip("\n"), max_comments=max_comments, instructions=extra)


def batch_message(prompts: Prompts, settings: Settings, diff: str, files: Sequence[FileDiff] = (), *,
                  every_rule: bool = False) -> str:
    """Render the user message for a batch's diff (of some of `files`): the `[[paths]]` rules of its own files only.

    `every_rule` puts in every rule instead: the most a request's instructions can take, for planning.
    """
    if every_rule or not settings.paths:
        rules = settings.paths
    else:
        rules = rules_for(settings.paths, rendered_paths(diff, files))
    return user_message(prompts, diff=diff, max_comments=settings.max_comments, instructions=settings.instructions,
                        path_rules=rules, language=settings.language)
