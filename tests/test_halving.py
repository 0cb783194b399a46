"""Halving a batch for a retry: every changed line lands in exactly one half, each half counted exactly."""

from __future__ import annotations

import pytest

from bot.core.diff import parse_diff
from bot.core.halving import halve
from bot.core.settings import Settings
from bot.llm.tokens import TekkenCounter
from bot.review.engine import build_shape, plan_review
from bot.review.prompting import Prompts
from tests.conftest import diff_bytes


@pytest.mark.parametrize("name", ["medium-multi-file.diff", "tiny-one-line-fix.diff", "new-file.diff"])
def test_each_changed_line_lands_in_exactly_one_half(name: str, counter: TekkenCounter, prompts: Prompts) -> None:
    settings = Settings()
    plan = plan_review(parse_diff(diff_bytes(name)), settings, counter=counter, prompts=prompts)
    exact = build_shape(prompts, counter, settings).exact
    for batch in plan.batches:
        halves = halve(batch, exact)
        assert halves is not None
        first, second = halves
        assert first.changed_lines() and second.changed_lines()
        assert first.changed_lines() | second.changed_lines() == batch.changed_lines()
        assert not first.changed_lines() & second.changed_lines()
        assert all(h.input_tokens == exact(h.diff_text) < batch.input_tokens for h in halves)
