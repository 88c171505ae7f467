"""The shipped price table, model id matching, config overrides and cost arithmetic."""

from __future__ import annotations

import datetime
import json
import math
from importlib.resources import files
from typing import Any

import pytest

from pytest_promptguard.config.pricing import LongContext, Price, as_of, cost_usd, lookup, price_from_spec
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.results import Request, Usage
from pytest_promptguard.providers.anthropic import _usage as anthropic_usage

RATE_FIELDS = ("input_per_mtok", "cached_input_per_mtok", "output_per_mtok")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in prices.json: {keys}"
    return dict(pairs)


def shipped_table() -> dict[str, Any]:
    text = files("pytest_promptguard").joinpath("data/prices.json").read_text(encoding="utf-8")
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def rates(price: Price | None) -> tuple[float, float | None, float] | None:
    return None if price is None else (price.input_per_mtok, price.cached_input_per_mtok, price.output_per_mtok)


# --- the table ---


def test_table_header():
    table = shipped_table()
    assert table["format_version"] == 1
    assert datetime.date.fromisoformat(table["as_of"])
    assert as_of() == table["as_of"]


@pytest.mark.parametrize("model_id", sorted(shipped_table()["models"]))
def test_every_entry_is_well_formed(model_id):
    entry = shipped_table()["models"][model_id]
    assert model_id == model_id.strip().lower() and "/" not in model_id
    assert set(entry) - {"long_context"} == {*RATE_FIELDS, "source", "confirmed"}
    assert isinstance(entry["source"], str) and entry["source"].strip()
    assert isinstance(entry["confirmed"], bool)
    for name in RATE_FIELDS:
        value = entry[name]
        assert value is None or (type(value) in (int, float) and math.isfinite(value) and value >= 0), name
    complete = entry["input_per_mtok"] is not None and entry["output_per_mtok"] is not None
    assert complete or not entry["confirmed"], "an entry missing a rate cannot be confirmed"
    assert (lookup(model_id) is not None) == complete
    if "long_context" in entry:
        tier = entry["long_context"]
        assert set(tier) == {"threshold_tokens", *RATE_FIELDS}
        assert type(tier["threshold_tokens"]) is int and tier["threshold_tokens"] > 0
        for name in RATE_FIELDS:
            if tier[name] is not None:
                assert entry[name] is None or tier[name] >= entry[name], name


# --- matching model ids ---


@pytest.mark.parametrize(
    "model_id, expected",
    [
        ("gpt-4o-mini", (0.15, 0.075, 0.60)),
        ("gpt-4o", (2.50, 1.25, 10.00)),
        ("claude-haiku-4-5", (1.0, 0.10, 5.0)),
        ("gemini-2.5-flash", (0.30, 0.03, 2.50)),
        ("gemini-3.1-pro-preview", (2.00, None, 12.0)),
    ],
)
def test_exact_id(model_id, expected):
    assert rates(lookup(model_id)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "model_id, family",
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("o4-mini-2025-04-16", "o4-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gemini-2.5-flash-001", "gemini-2.5-flash"),
        ("GPT-4o-Mini", "gpt-4o-mini"),
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_snapshots_case_and_provider_prefix_map_to_family(model_id, family):
    assert lookup(model_id) is not None
    assert lookup(model_id) == lookup(family)


def test_mini_is_never_priced_as_its_bigger_sibling():
    assert lookup("gpt-4o-mini") != lookup("gpt-4o")
    assert lookup("gpt-4o-mini-2024-07-18").input_per_mtok == pytest.approx(0.15)
    assert lookup("gemini-2.5-flash-lite") != lookup("gemini-2.5-flash")
    assert lookup("claude-opus-5-5") != lookup("claude-opus-5")


@pytest.mark.parametrize(
    "model_id",
    [
        None,
        "",
        "llama-3.1-8b",
        "test-model-2024-01-01",
        # a different model after a known id: no prefix match
        "gpt-4o-audio-preview",
        "gpt-4o-mini-realtime-preview",
        "o3-pro",
        "o4-mini-deep-research",
        "gpt-5-chat-latest",
        "claude-opus-5-6",
        "gemini-2.5-flash-image",
        "gemini-2.5-flash-preview-05-20",
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        # a snapshot suffix of the wrong shape, or another provider's shape
        "gpt-4o-mini-20240718",
        "claude-haiku-4-5-2025-10-01",
        "gemini-2.5-flash-20250101",
        "claude-opus-4-20250514",
        # rows whose output price is unknown, and that must not fall back to gpt-5.4
        "gpt-5.4-nano",
        "gpt-5.4-nano-2026-03-17",
        "gemini-3.6-flash",
    ],
)
def test_unknown_ids_have_no_price(model_id):
    assert lookup(model_id) is None


def test_table_price_records_source_and_confirmation():
    price = lookup("claude-haiku-4-5-20251001")
    assert price.confirmed is True
    assert as_of() in price.source and "A1" in price.source
    assert lookup("gpt-4o-mini").confirmed is False


# --- cost ---

USAGE = Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=400)
PRICE = Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5)


def test_cached_tokens_are_part_of_input_and_billed_at_the_cached_rate():
    expected = (600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6
    assert cost_usd(USAGE, PRICE) == pytest.approx(expected)


def test_anthropic_adapter_usage_bills_cache_reads_once():
    """Anthropic's own input_tokens excludes cache reads and writes; the adapter adds them, so cost must not."""
    raw = {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 3}
    request = Request(model="m", provider="anthropic", model_id="claude-haiku-4-5", messages=(), params={})
    usage = anthropic_usage(raw, request, "")
    # cache writes at the input rate: Usage has no field for them
    expected = ((5 + 20) * 1.0 + 100 * 0.10 + 3 * 5.0) / 1e6
    assert cost_usd(usage, lookup("claude-haiku-4-5-20251001")) == pytest.approx(expected)


def test_unreported_cache_means_no_cached_tokens():
    usage = Usage(input_tokens=1000, output_tokens=100)
    assert cost_usd(usage, PRICE) == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)


def test_unknown_cached_rate_bills_cached_tokens_at_input_rate():
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0)
    assert cost_usd(USAGE, price) == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)


def test_more_cached_than_input_tokens_is_not_a_negative_charge():
    usage = Usage(input_tokens=100, output_tokens=0, cached_input_tokens=500)
    assert cost_usd(usage, PRICE) == pytest.approx(100 * 0.5 / 1e6)


TIERED = Price(1.0, 10.0, 0.1, long_context=LongContext(threshold_tokens=200, input_per_mtok=2.0, output_per_mtok=15.0))


def test_long_context_tier_bills_the_whole_request_above_the_threshold():
    at_threshold = Usage(input_tokens=200, output_tokens=10, cached_input_tokens=50)
    above = Usage(input_tokens=201, output_tokens=10, cached_input_tokens=50)
    assert cost_usd(at_threshold, TIERED) == pytest.approx((150 * 1.0 + 50 * 0.1 + 10 * 10.0) / 1e6)
    # the long tier has no cached rate: cached tokens at its input rate
    assert cost_usd(above, TIERED) == pytest.approx((201 * 2.0 + 10 * 15.0) / 1e6)


def test_shipped_long_context_tiers():
    small = Usage(input_tokens=100_000, output_tokens=1000)
    large = Usage(
        input_tokens=110_000, output_tokens=1000, cached_input_tokens=20_000
    )  # a 110K prompt, 20K read from cache
    haiku = lookup("claude-haiku-5-5")
    assert cost_usd(small, haiku) == pytest.approx((100_000 * 0.10 + 1000 * 0.50) / 1e6)
    assert cost_usd(large, haiku) == pytest.approx((90_000 * 0.50 + 20_000 * 0.05 + 1000 * 2.50) / 1e6)
    pro = lookup("models/gemini-2.5-pro")
    assert cost_usd(Usage(input_tokens=200_001, output_tokens=0), pro) == pytest.approx(200_001 * 2.50 / 1e6)


@pytest.mark.parametrize(
    "usage",
    [Usage(), Usage(input_tokens=10), Usage(output_tokens=10), Usage(output_tokens=10, cached_input_tokens=5)],
)
def test_unknown_tokens_give_unknown_cost(usage):
    assert cost_usd(usage, PRICE) is None


def test_unknown_price_gives_unknown_cost_not_zero():
    assert cost_usd(USAGE, lookup("no-such-model")) is None
    assert cost_usd(Usage(input_tokens=0, output_tokens=0), PRICE) == 0


# --- override from a model spec ---


def test_price_from_spec():
    price = price_from_spec({"input_per_mtok": 1, "output_per_mtok": 4.5, "cached_input_per_mtok": 0.25})
    assert price == Price(1.0, 4.5, 0.25, source="config", confirmed=True)
    assert price_from_spec({"input_per_mtok": 0, "output_per_mtok": 0}, source="promptguard.yaml:7") == Price(
        0.0, 0.0, None, source="promptguard.yaml:7", confirmed=True
    )


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"input_per_mtok": 1}, "output_per_mtok is missing"),
        ({"output_per_mtok": 1}, "input_per_mtok is missing"),
        ({"input_per_mtok": -1, "output_per_mtok": 1}, "must be a non-negative number"),
        ({"input_per_mtok": "1", "output_per_mtok": 1}, "must be a non-negative number"),
        ({"input_per_mtok": True, "output_per_mtok": 1}, "must be a non-negative number"),
        ({"input_per_mtok": 1, "output_per_mtok": float("nan")}, "must be a non-negative number"),
        ({"input_per_mtok": 1, "output_per_mtok": 1, "cached_per_mtok": 0.1}, "did you mean 'cached_input_per_mtok'"),
    ],
)
def test_bad_price_spec(raw, message):
    with pytest.raises(PromptguardError, match=message):
        price_from_spec(raw)
