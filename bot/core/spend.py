"""Spend arithmetic: tokens to dollars, and what a budget still allows. Pure."""

from __future__ import annotations

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
LIST_PRICES: dict[str, Price] = {
    "mistral-small-2603": SMALL_4,
    "mistral-small-latest": SMALL_4,
}


def price_for(model: str, *, input_per_m: float | None = None, output_per_m: float | None = None) -> Price:
    """Return the configured price, or the list price of the model (Small 4's when unknown)."""
    listed = LIST_PRICES.get(model, SMALL_4)
    return Price(
        listed.input_per_m if input_per_m is None else input_per_m,
        listed.output_per_m if output_per_m is None else output_per_m,
    )


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
