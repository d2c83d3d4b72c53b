"""What a request cost in US dollars, from a price table per model, for budgets and the ledger.

Prices are per million tokens: input, cached input (cache reads), cache writes (Anthropic bills
them at 1.25 times input, for its five-minute cache; elsewhere they are input) and output
(reasoning included, as vendors bill it). The shipped table holds well-known models
at the vendors' list prices as of `PRICES_AS_OF`; the config's `[prices]` table overrides or adds
entries, since prices change and discounts differ. A model is found by its exact upstream name,
else by the longest table entry it starts with (`gpt-5-mini-2025-08-07` is priced as
`gpt-5-mini`); a model found nowhere costs 0, which `interlingua usage` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from interlingua.adapters.ir import Usage

PRICES_AS_OF = "2025-11-01"
MILLION = 1_000_000
_CACHED = 4096


@dataclass(slots=True, frozen=True)
class Price:
    input: float
    cached_input: float
    output: float
    cache_write: float | None = None  # None: the input price


def _claude(fresh: float, read: float, output: float) -> Price:
    return Price(fresh, read, output, fresh * 1.25)


DEFAULT_PRICES: Mapping[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 0.125, 10.0),
    "gpt-5-mini": Price(0.25, 0.025, 2.0),
    "gpt-5-nano": Price(0.05, 0.005, 0.4),
    "gpt-4.1": Price(2.0, 0.5, 8.0),
    "gpt-4.1-mini": Price(0.4, 0.1, 1.6),
    "gpt-4.1-nano": Price(0.1, 0.025, 0.4),
    "gpt-4o": Price(2.5, 1.25, 10.0),
    "gpt-4o-mini": Price(0.15, 0.075, 0.6),
    "o3": Price(2.0, 0.5, 8.0),
    "o4-mini": Price(1.1, 0.275, 4.4),
    # Anthropic
    "claude-opus-4-1": _claude(15.0, 1.5, 75.0),
    "claude-opus-4": _claude(15.0, 1.5, 75.0),
    "claude-sonnet-4-5": _claude(3.0, 0.3, 15.0),
    "claude-sonnet-4": _claude(3.0, 0.3, 15.0),
    "claude-haiku-4-5": _claude(1.0, 0.1, 5.0),
    "claude-3-5-haiku": _claude(0.8, 0.08, 4.0),
    # Google (prompts up to 200k tokens)
    "gemini-2.5-pro": Price(1.25, 0.125, 10.0),
    "gemini-2.5-flash": Price(0.3, 0.03, 2.5),
    "gemini-2.5-flash-lite": Price(0.1, 0.01, 0.4),
}


def usd(amount: float) -> str:
    """Dollars as people read them: cents for whole amounts, significant digits for small ones."""
    return f"${amount:.2f}" if amount >= 1 or amount == 0 else f"${amount:.4g}"


class PriceTable:
    """The shipped prices with the config's on top; lookups are cached per model name."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self.prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._by_length = sorted(self.prices, key=len, reverse=True)
        self._found: dict[str, Price | None] = {}

    def price(self, model: str) -> Price | None:
        if model in self._found:
            return self._found[model]
        name = model.rsplit("/", 1)[-1]
        found = self.prices.get(name) or next((self.prices[p] for p in self._by_length if name.startswith(p)), None)
        if len(self._found) >= _CACHED:  # names come from requests: keep the cache bounded
            self._found.clear()
        self._found[model] = found
        return found

    def cost(self, model: str, usage: Usage) -> float:
        price = self.price(model)
        if price is None:
            return 0.0
        cached = min(usage.cache_read_tokens, usage.input_tokens)
        written = min(usage.cache_write_tokens, usage.input_tokens - cached)
        write = price.input if price.cache_write is None else price.cache_write
        return ((usage.input_tokens - cached - written) * price.input + cached * price.cached_input
                + written * write + usage.output_tokens * price.output) / MILLION
