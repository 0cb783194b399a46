"""Spend arithmetic: tokens to dollars, and what a budget still allows. Pure."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million input and output tokens."""

    input_per_m: float
    output_per_m: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Return the dollars that many tokens cost."""
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / PER_MILLION


SMALL_4 = Price(0.15, 0.60)
# Mistral's list prices in dollars per million tokens (input, output): a snapshot taken 2026-11-29 from
# third-party copies of Mistral's pricing page (see the README's "Costs"). Only pinned model ids: a `-latest`
# alias moves to other models at other prices, so it needs MISTRAL_REVIEW_PRICE_INPUT/OUTPUT like any
# model not listed here. Check https://mistral.ai/pricing before relying on these figures.
LIST_PRICES: dict[str, Price] = {
    "mistral-small-2603": SMALL_4,  # Mistral Small 4
    "mistral-large-2512": Price(0.50, 1.50),  # Mistral Large 3
    "mistral-medium-3-5": Price(1.50, 7.50),  # Mistral Medium 3.5
    "magistral-medium-2509": Price(2.00, 5.00),
    "codestral-2508": Price(0.30, 0.90),
    "devstral-2512": Price(0.40, 2.00),  # Devstral 2
    "devstral-small-2507": Price(0.10, 0.30),
    "ministral-8b-2410": Price(0.10, 0.10),
    "ministral-3b-2410": Price(0.04, 0.04),
}


def unknown_model_message(model: str) -> str:
    """Say that a model has no price, naming the listed models and the nearest one when it looks like a typo."""
    known = ", ".join(sorted(LIST_PRICES))
    close = difflib.get_close_matches(model, LIST_PRICES, n=1, cutoff=0.8)
    if close:  # a typo: setting prices would only send it to the API
        return f"unknown model {model!r}; known models: {known} (did you mean {close[0]}?)"
    return (f"unknown model {model!r} has no built-in price; known models: {known}. For another model (self-hosted, "
            "a -latest alias), set MISTRAL_REVIEW_PRICE_INPUT and MISTRAL_REVIEW_PRICE_OUTPUT "
            "(dollars per 1M tokens, 0 allowed)")


def price_for(model: str, *, input_per_m: float | None = None, output_per_m: float | None = None) -> Price | None:
    """Return the configured price, else the model's list price; None when neither says (never a guess)."""
    listed = LIST_PRICES.get(model)
    input_price = input_per_m if input_per_m is not None else listed.input_per_m if listed else None
    output_price = output_per_m if output_per_m is not None else listed.output_per_m if listed else None
    if input_price is None or output_price is None:
        return None
    return Price(input_price, output_price)


@dataclass(frozen=True)
class Usage:
    """Tokens and dollars spent; `estimated` when a server reported no usage, or a timed-out call may have
    been billed, and we counted. `model` is the model the server said answered (empty when none did)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    estimated: bool = False
    model: str = ""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
            self.calls + other.calls,
            self.estimated or other.estimated,
            self.model or other.model,
        )

    def as_dict(self) -> dict[str, object]:
        """Return the usage as the JSON the CLI and the Action print."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "calls": self.calls,
            "estimated": self.estimated,
            "model": self.model or None,
        }


def worst_case(input_tokens: int, output_tokens: int, price: Price) -> float:
    """Return the most a request can cost: all its input and every reserved output token."""
    return price.cost(input_tokens, output_tokens)
