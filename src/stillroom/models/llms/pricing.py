"""What an LLM's tokens cost, for the progress display and the run summary.

An LLM's own `input_price_per_1m` / `output_price_per_1m` fields (US dollars per million
tokens) win; otherwise `PRICES`, a small table of the main hosted models' list prices as of
`PRICES_AS_OF`, looked up by model name (a dated model name such as
`gpt-4o-mini-2024-07-18` matches its family's entry). Prices change: set the fields, or
update `PRICES` (`stillroom.models.llms.pricing.PRICES["my-model"] = (1.0, 2.0)`). A model
with no known price has no cost (shown as nothing, never as $0).
"""

from __future__ import annotations

from typing import Any

PRICES_AS_OF = "2025-06"
"""When the list prices below were read from the providers' pricing pages."""

PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    # Anthropic
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}
"""Model name (or family prefix) -> (input, output) US dollars per million tokens."""


def model_prices(model: str) -> tuple[float, float] | None:
    """The table's prices for `model`: its own entry, else the longest family prefix."""
    if model in PRICES:
        return PRICES[model]
    family = max((name for name in PRICES if model.startswith(name + "-")), key=len, default=None)
    return PRICES[family] if family is not None else None


def llm_prices(llm: Any) -> tuple[float, float] | None:
    """(input, output) dollars per million tokens for `llm`: its own price fields, else the
    table by its model name; None when unknown."""
    own_in = getattr(llm, "input_price_per_1m", None)
    own_out = getattr(llm, "output_price_per_1m", None)
    if own_in is not None or own_out is not None:
        return (own_in or 0.0, own_out or 0.0)
    name = getattr(llm, "model_name", None)
    return model_prices(name) if isinstance(name, str) else None


def cost(prices: tuple[float, float] | None, input_tokens: int, output_tokens: int) -> float | None:
    """Dollars for the tokens at `prices`; None when the prices are unknown."""
    if prices is None:
        return None
    return (input_tokens * prices[0] + output_tokens * prices[1]) / 1_000_000
