"""What a call cost: the dated price table shipped in `data/prices.json`, config overrides, and the arithmetic.

A cost we cannot compute is None ("unknown"), never 0: a missing price must show up in the summary,
not pass as free.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from ..core.errors import PromptguardError
from ..core.results import Usage
from ..core.validation import suggest

#: Dated snapshots per provider family; group 1 is the family id. Only these suffixes are stripped: any other
#: suffix after a known id names a different model with its own price (gpt-4o-mini, o3-pro, gemini-2.5-flash-lite,
#: claude-opus-5-5, gpt-4o-audio-preview), so there is no general prefix match.
_SNAPSHOTS = (
    re.compile(r"((?:gpt-|o\d).*)-\d{4}-\d{2}-\d{2}"),  # OpenAI: gpt-4o-mini-2024-07-18
    re.compile(r"(claude-.*)-\d{8}"),  # Anthropic: claude-haiku-4-5-20251001
    re.compile(r"(gemini-.*)-\d{3}"),  # Gemini: gemini-2.0-flash-001, a stable version of the same model
)

_SPEC_FIELDS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")


@dataclass(frozen=True)
class LongContext:
    """The rates for prompts longer than `threshold_tokens`; they apply to the whole request."""

    threshold_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None


@dataclass(frozen=True)
class Price:
    """USD per million tokens. A null cached rate bills cached tokens at the input rate (an upper bound)."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    long_context: LongContext | None = None
    source: str = ""
    confirmed: bool = False

    def tier(self, prompt_tokens: int) -> Price | LongContext:
        """The rates that apply to a prompt of `prompt_tokens` (cached tokens included)."""
        if self.long_context is not None and prompt_tokens > self.long_context.threshold_tokens:
            return self.long_context
        return self


@cache
def _table() -> dict[str, Any]:
    return json.loads(files("pytest_promptguard").joinpath("data/prices.json").read_text(encoding="utf-8"))


def as_of() -> str:
    """The date of the shipped price table, to print beside any cost computed from it."""
    return _table()["as_of"]


def _entry_price(entry: dict[str, Any]) -> Price | None:
    """The entry as a Price; None when its input or output rate is unknown, as no cost can be computed then."""
    if entry["input_per_mtok"] is None or entry["output_per_mtok"] is None:
        return None
    long_context = entry.get("long_context")
    return Price(
        input_per_mtok=entry["input_per_mtok"],
        output_per_mtok=entry["output_per_mtok"],
        cached_input_per_mtok=entry["cached_input_per_mtok"],
        long_context=LongContext(**long_context) if long_context else None,
        source=f"price table {as_of()}: {entry['source']}",
        confirmed=entry["confirmed"],
    )


def _table_key(model_id: str) -> str | None:
    """The entry `model_id` maps to: the id itself, else its family once a dated snapshot suffix is gone.

    Case-insensitive, and a provider prefix ("openai/", "models/") is ignored.
    """
    models = _table()["models"]
    key = model_id.strip().lower().rsplit("/", 1)[-1]
    if key in models:
        return key
    for snapshot in _SNAPSHOTS:
        match = snapshot.fullmatch(key)
        if match and match.group(1) in models:
            return match.group(1)
    return None


def lookup(model_id: str | None) -> Price | None:
    """The shipped price of `model_id`; None when unknown, so that its cost is reported as unknown."""
    key = _table_key(model_id) if model_id else None
    return _entry_price(_table()["models"][key]) if key is not None else None


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
    """The Price a model spec's `price:` mapping gives; it replaces the table's price for that model."""
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
    return Price(input_rate, output_rate, _spec_rate(raw, "cached_input_per_mtok"), source=source, confirmed=True)


def cost_usd(usage: Usage, price: Price | None) -> float | None:
    """USD for one call; None when the price or the input/output token counts are unknown.

    Every provider reports `input_tokens` as the whole prompt with `cached_input_tokens` a part of it (the
    Anthropic one adds the cache reads and writes that Anthropic's own `input_tokens` leaves out), so one rule
    serves all. Cached tokens are billed at the cached rate.
    """
    if price is None or usage.input_tokens is None or usage.output_tokens is None:
        return None
    cached = min(usage.cached_input_tokens or 0, usage.input_tokens)
    rates = price.tier(usage.input_tokens)
    cached_rate = rates.input_per_mtok if rates.cached_input_per_mtok is None else rates.cached_input_per_mtok
    uncached = usage.input_tokens - cached
    return (uncached * rates.input_per_mtok + cached * cached_rate + usage.output_tokens * rates.output_per_mtok) / 1e6
