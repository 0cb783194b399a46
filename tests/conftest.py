"""Shared fixtures: real diffs, the tokenizer (loaded once per session) and the prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.llm.tokens import TekkenCounter, default_counter
from bot.review.prompting import Prompts, load_prompts

FIXTURES = Path(__file__).parent / "fixtures"
DIFFS = sorted((FIXTURES / "diffs").glob("*.diff"))


@pytest.fixture(scope="session")
def counter() -> TekkenCounter:
    """The process-wide Tekken counter."""
    return default_counter()


@pytest.fixture(scope="session")
def prompts() -> Prompts:
    """The prompt templates."""
    return load_prompts()


def diff_bytes(name: str) -> bytes:
    """Return a real diff from tests/fixtures/diffs."""
    return (FIXTURES / "diffs" / name).read_bytes()
