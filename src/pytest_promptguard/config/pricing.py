"""What a call cost: a model's Price (from the shipped snapshot, see pricetable.py, or a config override) and the
arithmetic.

A cost we cannot compute is None ("unknown"), never 0: a missing price must show up in the summary,
not pass as free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..core.errors import PromptguardError
from ..core.results import Usage
from ..core.validation import suggest

_SPEC_FIELDS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")


@dataclass(frozen=True)
class Tiered:
    """A rate that rises with the prompt: above `start` prompt tokens (cached included), the whole request pays
    that tier's rate (the providers' "long context" pricing)."""

    base: float
    tiers: tuple[tuple[int, float], ...]  # (start, rate), ascending

    def at(self, prompt_tokens: int) -> float:
        for start, rate in reversed(self.tiers):
            if prompt_tokens > start:
                return rate
        return self.base


Rate = float | Tiered


def _at(rate: Rate, prompt_tokens: int) -> float:
    return rate.at(prompt_tokens) if isinstance(rate, Tiered) else rate


@dataclass(frozen=True)
class Price:
    """USD per million tokens, and per request. A rate left None bills its tokens at the rate they are part of:
    cache reads and writes at the input rate, reasoning at the output rate."""

    input_per_mtok: Rate
    output_per_mtok: Rate
    cached_input_per_mtok: Rate | None = None  # cache reads
    cache_write_per_mtok: Rate | None = None
    reasoning_per_mtok: Rate | None = None
    per_request: float = 0.0  # USD per call (Perplexity's request fee)
    source: str = ""  # what priced it, for the reports: "genai-prices 0.2.3 snapshot 2026-12-03", "price: in ..."
    priced_as: str | None = None  # the source's entry that matched the model id, "provider:model"; None for `price:`


def _spec_rate(raw: dict[str, Any], name: str) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PromptguardError(
            f"price: {name} must be a non-negative number, got {value!r}", hint="write USD per 1M tokens, e.g. 0.15"
        )
    return float(value)


def price_from_spec(raw: dict[str, Any], source: str = "config") -> Price:
    """The Price a model spec's `price:` mapping gives; it replaces the snapshot's price for that model."""
    for name in raw:
        if name not in _SPEC_FIELDS:
            raise PromptguardError(
                f"price: unknown field '{name}'{suggest(name, _SPEC_FIELDS)}",
                hint="give input_per_mtok and output_per_mtok, and optionally cached_input_per_mtok "
                "(USD per 1M tokens)",
            )
    input_rate, output_rate = _spec_rate(raw, "input_per_mtok"), _spec_rate(raw, "output_per_mtok")
    if input_rate is None or output_rate is None:
        missing = "input_per_mtok" if input_rate is None else "output_per_mtok"
        raise PromptguardError(f"price: {missing} is missing", hint=f"add {missing}: <USD per 1M tokens>")
    return Price(input_rate, output_rate, _spec_rate(raw, "cached_input_per_mtok"), source=source)


def cost_usd(usage: Usage, price: Price | None) -> float | None:
    """USD for one call; None when the price or the input/output token counts are unknown.

    Every provider module reports `input_tokens` as the whole prompt, with cache reads (`cached_input_tokens`)
    and cache writes part of it, and `output_tokens` as the whole answer, with reasoning part of it, so one rule
    serves all: each part at its own rate, the rest at the input or output rate. Tiered rates follow the whole
    prompt's size, as genai-prices and the providers bill them.
    """
    if price is None or usage.input_tokens is None or usage.output_tokens is None:
        return None
    prompt = usage.input_tokens
    read = min(usage.cached_input_tokens or 0, prompt)
    written = min(usage.cache_write_tokens or 0, prompt - read)
    reasoning = min(usage.reasoning_tokens or 0, usage.output_tokens)
    input_rate, output_rate = _at(price.input_per_mtok, prompt), _at(price.output_per_mtok, prompt)
    read_rate = input_rate if price.cached_input_per_mtok is None else _at(price.cached_input_per_mtok, prompt)
    write_rate = input_rate if price.cache_write_per_mtok is None else _at(price.cache_write_per_mtok, prompt)
    reasoning_rate = output_rate if price.reasoning_per_mtok is None else _at(price.reasoning_per_mtok, prompt)
    tokens = (
        (prompt - read - written) * input_rate
        + read * read_rate
        + written * write_rate
        + (usage.output_tokens - reasoning) * output_rate
        + reasoning * reasoning_rate
    )
    return tokens / 1e6 + price.per_request
