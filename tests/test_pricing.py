"""Prices: the shipped genai-prices snapshot, model ids as users write them, price periods, the cost arithmetic,
config overrides and provider hints, and what the reports say priced a call."""

from __future__ import annotations

import datetime
import json
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from pytest_promptguard.config import pricetable
from pytest_promptguard.config.pricetable import source_label, table_price
from pytest_promptguard.config.pricing import Price, Tiered, cost_usd, price_from_spec
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.results import Request, Usage
from pytest_promptguard.providers.anthropic import _usage as anthropic_usage
from pytest_promptguard.providers.gemini import _usage as gemini_usage
from pytest_promptguard.providers.openai import _usage as openai_usage

from .servers import Reply, chat_completion

ROOT = Path(__file__).resolve().parent.parent
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
OPENAI, ANTHROPIC, GEMINI = (
    "https://api.openai.com/v1",
    "https://api.anthropic.com/v1",
    "https://generativelanguage.googleapis.com/v1beta",
)
OPENROUTER, TOGETHER, GROQ = (
    "https://openrouter.ai/api/v1",
    "https://api.together.xyz/v1",
    "https://api.groq.com/openai/v1",
)
BEDROCK = "https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1"
LOCAL = "http://127.0.0.1:4000/v1"  # a proxy (LiteLLM) or a test server: the model id must tell

# Model ids as users write them, with the provider kind, base_url and price_provider of their model spec, and the
# question genai-prices must be asked for the same price: (provider id, model ref), None when it has none.
USER_IDS = [
    # OpenAI
    ("gpt-4o-mini", "openai", OPENAI, None, ("openai", "gpt-4o-mini")),
    ("gpt-4o-mini-2024-07-18", "openai", OPENAI, None, ("openai", "gpt-4o-mini-2024-07-18")),
    ("gpt-4o", "openai", LOCAL, None, ("openai", "gpt-4o")),
    ("gpt-4.1-mini", "openai", OPENAI, None, ("openai", "gpt-4.1-mini")),
    ("gpt-4-turbo", "openai", OPENAI, None, ("openai", "gpt-4-turbo")),
    ("gpt-3.5-turbo", "openai", LOCAL, None, ("openai", "gpt-3.5-turbo")),
    ("o3-mini", "openai", OPENAI, None, ("openai", "o3-mini")),
    ("o4-mini", "openai", LOCAL, None, ("openai", "o4-mini")),
    ("gpt-5-mini", "openai", OPENAI, None, ("openai", "gpt-5-mini")),
    ("openai/gpt-4o-mini", "openai", LOCAL, None, ("openai", "gpt-4o-mini")),
    (
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        "openai",
        OPENAI,
        None,
        ("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    ),
    # Anthropic: dated snapshots, -latest aliases, a proxy in front of the Messages API
    ("claude-3-5-haiku-20241022", "anthropic", ANTHROPIC, None, ("anthropic", "claude-3-5-haiku-20241022")),
    ("claude-3-5-sonnet-latest", "anthropic", ANTHROPIC, None, ("anthropic", "claude-3-5-sonnet-latest")),
    ("claude-3-7-sonnet-20250219", "anthropic", LOCAL, None, ("anthropic", "claude-3-7-sonnet-20250219")),
    ("claude-sonnet-4-20250514", "anthropic", ANTHROPIC, None, ("anthropic", "claude-sonnet-4-20250514")),
    ("claude-opus-4-1", "openai", LOCAL, None, ("anthropic", "claude-opus-4-1")),
    ("claude-haiku-4-5-20251001", "anthropic", ANTHROPIC, None, ("anthropic", "claude-haiku-4-5-20251001")),
    # Google Gemini
    ("gemini-2.5-flash", "gemini", GEMINI, None, ("google", "gemini-2.5-flash")),
    ("gemini-2.0-flash", "gemini", GEMINI, None, ("google", "gemini-2.0-flash")),
    ("gemini-1.5-pro", "openai", LOCAL, None, ("google", "gemini-1.5-pro")),
    ("models/gemini-1.5-pro", "gemini", LOCAL, None, ("google", "models/gemini-1.5-pro")),
    ("gemini-2.5-pro", "gemini", GEMINI, None, ("google", "gemini-2.5-pro")),
    # Mistral
    ("mistral-large-latest", "openai", "https://api.mistral.ai/v1", None, ("mistral", "mistral-large-latest")),
    ("codestral-latest", "openai", "https://api.mistral.ai/v1", None, ("mistral", "codestral-latest")),
    ("mistral-small-latest", "openai", LOCAL, None, ("mistral", "mistral-small-latest")),
    # DeepSeek
    ("deepseek-chat", "openai", "https://api.deepseek.com", None, ("deepseek", "deepseek-chat")),
    ("deepseek-reasoner", "openai", "https://api.deepseek.com/v1", None, ("deepseek", "deepseek-reasoner")),
    # xAI
    ("grok-3", "openai", "https://api.x.ai/v1", None, ("x-ai", "grok-3")),
    ("grok-4", "openai", LOCAL, None, ("x-ai", "grok-4")),
    ("grok-3-mini", "openai", "https://api.x.ai/v1", None, ("x-ai", "grok-3-mini")),
    # Cohere
    ("command-r-plus", "openai", "https://api.cohere.com/compatibility/v1", None, ("cohere", "command-r-plus")),
    ("command-a-03-2025", "openai", LOCAL, None, ("cohere", "command-a-03-2025")),
    # Groq: Llama ids that only the base_url or a hint place
    ("llama-3.3-70b-versatile", "openai", GROQ, None, ("groq", "llama-3.3-70b-versatile")),
    ("llama-3.1-8b-instant", "openai", LOCAL, "groq", ("groq", "llama-3.1-8b-instant")),
    # Together
    (
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "openai",
        TOGETHER,
        None,
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ),
    ("deepseek-ai/DeepSeek-V3", "openai", TOGETHER, None, None),  # not in the source's Together list
    # OpenRouter: vendor/model ids
    ("anthropic/claude-3.5-sonnet", "openai", OPENROUTER, None, ("openrouter", "anthropic/claude-3.5-sonnet")),
    ("openai/gpt-4o-mini", "openai", OPENROUTER, None, ("openrouter", "openai/gpt-4o-mini")),
    ("google/gemini-2.5-flash", "openai", LOCAL, "openrouter", ("openrouter", "google/gemini-2.5-flash")),
    ("meta-llama/llama-3.1-70b-instruct", "openai", LOCAL, None, ("openrouter", "meta-llama/llama-3.1-70b-instruct")),
    # AWS Bedrock: dotted vendor ids, region prefixes
    (
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "openai",
        BEDROCK,
        None,
        ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ),
    (
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "openai",
        LOCAL,
        None,
        ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ),
    (
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "openai",
        LOCAL,
        "bedrock",
        ("aws", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ),
    ("amazon.nova-pro-v1:0", "openai", LOCAL, "aws", ("aws", "amazon.nova-pro-v1:0")),
    # Perplexity: a request fee on top of tokens
    ("sonar", "openai", "https://api.perplexity.ai", None, ("perplexity", "sonar")),
    ("sonar-pro", "openai", LOCAL, "perplexity", ("perplexity", "sonar-pro")),
    ("sonar-deep-research", "openai", "https://api.perplexity.ai", None, ("perplexity", "sonar-deep-research")),
    # Azure OpenAI: a deployment's URL, the OpenAI model id
    ("gpt-4o", "openai", "https://acme.openai.azure.com/openai/deployments/gpt-4o", None, ("azure", "gpt-4o")),
    # Fireworks
    (
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
        "openai",
        "https://api.fireworks.ai/inference/v1",
        None,
        ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
    ),
    (
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
        "openai",
        "https://api.fireworks.ai/inference/v1",
        None,
        None,
    ),
]
IDS = [f"{row[0]}@{row[3] or row[2]}" for row in USER_IDS]
# Usages that exercise every rate: cache reads and writes, reasoning, and a prompt past every long-context threshold.
USAGES = [
    Usage(input_tokens=1200, output_tokens=300),
    Usage(
        input_tokens=5000, output_tokens=800, cached_input_tokens=3000, cache_write_tokens=1000, reasoning_tokens=500
    ),
    Usage(input_tokens=300_000, output_tokens=2000, cached_input_tokens=100_000, reasoning_tokens=1500),
]


def price_of(
    model_id: str | None,
    kind: str = "openai",
    base_url: str | None = LOCAL,
    hint: str | None = None,
    when: datetime.datetime = NOW,
) -> Price | None:
    return table_price((model_id,), kind=kind, base_url=base_url, hint=hint, when=when)


def shipped() -> dict:
    return json.loads(files("pytest_promptguard").joinpath("data/prices.json").read_text(encoding="utf-8"))


# --- the snapshot ---


def test_the_snapshot_names_its_source_version_and_date():
    source = shipped()["source"]
    assert shipped()["format_version"] == 2
    assert source["name"] == "genai-prices" and source["url"] == "https://github.com/pydantic/genai-prices"
    assert datetime.date.fromisoformat(source["snapshot"])
    assert source_label() == f"genai-prices {source['version']} snapshot {source['snapshot']}"
    assert len(shipped()["providers"]) >= 40 and sum(len(p["models"]) for p in shipped()["providers"]) >= 2000


def test_the_readme_and_the_cost_page_say_which_source_and_date_priced_the_calls():
    """Refreshing the snapshot means saying so where users read it."""
    source = shipped()["source"]
    repo = Path(__file__).resolve().parents[1]
    readme = " ".join((repo / "README.md").read_text("utf-8").split())
    assert f"(version {source['version']}, taken {source['snapshot']})" in readme
    cost = (repo / "docs" / "cost.md").read_text("utf-8")
    assert f"**genai-prices {source['version']}, snapshot {source['snapshot']}**" in cost


def test_the_snapshot_is_what_the_refresh_script_makes_of_the_installed_source():
    """Also fails when the installed genai-prices is not the snapshot's version: refresh the snapshot with it."""
    genai_prices = pytest.importorskip("genai_prices")
    assert genai_prices.__version__ == shipped()["source"]["version"], "run: python tools/refresh_prices.py"
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import refresh_prices
    finally:
        sys.path.remove(str(ROOT / "tools"))
    from genai_prices.data import providers

    assert [refresh_prices.provider_entry(p) for p in providers] == shipped()["providers"], (
        "run: python tools/refresh_prices.py"
    )


# --- model ids as users write them ---


def test_at_least_90_percent_of_40_ids_across_10_providers_are_priced_by_the_provider_meant():
    priced = [row for row in USER_IDS if price_of(row[0], row[1], row[2], row[3]) is not None]
    assert len(USER_IDS) >= 40 and len({row[4][0] for row in USER_IDS if row[4]}) >= 10
    assert len(priced) / len(USER_IDS) >= 0.9, f"{len(priced)} of {len(USER_IDS)} priced"
    assert [row for row in USER_IDS if (row in priced) != (row[4] is not None)] == []
    for model_id, kind, base_url, hint, (provider, _) in (row for row in priced):
        assert price_of(model_id, kind, base_url, hint).priced_as.startswith(f"{provider}:"), model_id


@pytest.mark.parametrize("row", [row for row in USER_IDS if row[4]], ids=[i for i, row in zip(IDS, USER_IDS) if row[4]])
@pytest.mark.parametrize(
    "when",
    [NOW, datetime.datetime(2026, 12, 3, 9, 0, tzinfo=UTC), datetime.datetime(2025, 3, 1, tzinfo=UTC)],
    ids=["evening", "morning", "2025-03"],
)
def test_every_price_is_the_source_own_figure(row, when):
    genai_prices = pytest.importorskip("genai_prices")
    model_id, kind, base_url, hint, (provider, ref) = row
    price = price_of(model_id, kind, base_url, hint, when)
    for usage in USAGES:
        expected = genai_prices.calc_price(
            genai_prices.Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cached_input_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                output_reasoning_tokens=usage.reasoning_tokens,
            ),
            ref,
            provider_id=provider,
            genai_request_timestamp=when,
        )
        assert price.priced_as == f"{provider}:{expected.model.id}"
        assert cost_usd(usage, price) == pytest.approx(float(expected.total_price), rel=1e-9, abs=1e-12), usage


@pytest.mark.parametrize(
    "model_id, rates",
    [  # verified against the providers' pages (/work/shared/reference/llm-prices.md): input, cache read, output
        ("gpt-4o-mini", (0.15, 0.075, 0.60)),
        ("gpt-4.1", (2.00, 0.50, 8.00)),
        ("o4-mini-2025-04-16", (1.10, 0.275, 4.40)),
        ("claude-haiku-4-5-20251001", (1.0, 0.10, 5.0)),
        ("claude-opus-4-1", (15.0, 1.50, 75.0)),
        ("gemini-2.5-flash", (0.30, 0.03, 2.50)),
    ],
)
def test_prices_checked_by_hand(model_id, rates):
    price = price_of(model_id)
    assert (price.input_per_mtok, price.cached_input_per_mtok, price.output_per_mtok) == pytest.approx(rates)


@pytest.mark.parametrize(
    "model_id, kind, base_url, hint",
    [
        (None, "openai", LOCAL, None),
        ("", "openai", LOCAL, None),
        ("mystery-1", "openai", LOCAL, None),
        ("test-model-2024-01-01", "openai", LOCAL, None),  # the test servers' served model
        ("claude-test-20250101", "anthropic", LOCAL, None),
        ("my-finetune", "openai", OPENAI, None),
        ("gpt-4o-mini", "openai", GROQ, None),  # the base_url names the provider: no other provider's price
        ("gpt-4o-mini", "openai", LOCAL, "groq"),
        ("sonar", "openai", LOCAL, None),  # Perplexity's ids need its base_url or a hint
        # local servers run models for free or for a cost only the user knows: not the API's price of the same name
        ("deepseek-r1:7b", "ollama", "http://127.0.0.1:11434", None),
        ("gpt-4o-mini", "ollama", "http://127.0.0.1:11434", None),
        ("llama3.2", "openai", LOCAL, None),
        ("qwen2.5:7b", "openai", LOCAL, None),
        ("app-2.1", "python", None, None),
        # the source lists it without a token price (included in a subscription): unknown, never $0
        ("gpt-4o-mini", "openai", "https://api.githubcopilot.com", None),
    ],
)
def test_unknown_ids_stay_unknown(model_id, kind, base_url, hint):
    assert price_of(model_id, kind, base_url, hint) is None
    assert cost_usd(Usage(input_tokens=10, output_tokens=10), price_of(model_id, kind, base_url, hint)) is None


def test_the_served_model_is_priced_first_then_the_one_asked():
    both = table_price(
        ("claude-3-5-haiku-20241022", "claude-opus-4-1"), kind="anthropic", base_url=ANTHROPIC, hint=None, when=NOW
    )
    assert both.priced_as == "anthropic:claude-3-5-haiku-latest"
    fallback = table_price(("test-model-2024-01-01", "gpt-4o-mini"), kind="openai", base_url=LOCAL, hint=None, when=NOW)
    assert fallback.priced_as == "openai:gpt-4o-mini"


def test_provider_aliases_the_source_knows():
    assert pricetable.find_provider("bedrock") == "aws"
    assert pricetable.find_provider("Vertex") == "google"
    assert pricetable.find_provider("xai") == "x-ai"
    assert pricetable.find_provider("openruter") is None


def test_lookups_are_memoised_per_model():
    price_of("gpt-4o-mini", base_url=OPENAI)
    before = pricetable.entry.cache_info()
    for _ in range(100):
        price_of("gpt-4o-mini", base_url=OPENAI)
    after = pricetable.entry.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 100


# --- price periods ---


def test_a_dated_price_period_applies_from_its_first_day():
    """OpenAI cut o3's price on 2025-06-10: a call's date picks its price."""
    before = price_of("o3", when=datetime.datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    after = price_of("o3", when=datetime.datetime(2025, 6, 10, 0, 0, tzinfo=UTC))
    assert (before.input_per_mtok, before.output_per_mtok) == (10.0, 40.0)
    assert (after.input_per_mtok, after.output_per_mtok) == (2.0, 8.0)


def test_a_time_of_day_period_applies_in_its_utc_hours():
    """DeepSeek's standard price holds 00:30-16:30 UTC; the rest of the day is half price."""
    day = price_of(
        "deepseek-chat", base_url="https://api.deepseek.com", when=datetime.datetime(2026, 12, 3, 16, 29, tzinfo=UTC)
    )
    night = price_of(
        "deepseek-chat", base_url="https://api.deepseek.com", when=datetime.datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
    )
    assert (day.input_per_mtok, day.output_per_mtok) == (0.27, 1.1)
    assert (night.input_per_mtok, night.output_per_mtok) == (0.135, 0.55)


# --- cost ---

PRICE = Price(
    input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5, cache_write_per_mtok=2.5, reasoning_per_mtok=3.0
)


def test_cache_reads_writes_and_reasoning_each_at_their_rate():
    usage = Usage(
        input_tokens=1000, output_tokens=100, cached_input_tokens=400, cache_write_tokens=100, reasoning_tokens=60
    )
    expected = (500 * 2.0 + 400 * 0.5 + 100 * 2.5 + 40 * 8.0 + 60 * 3.0) / 1e6
    assert cost_usd(usage, PRICE) == pytest.approx(expected)


def test_parts_without_a_rate_are_billed_at_the_rate_they_are_part_of():
    usage = Usage(
        input_tokens=1000, output_tokens=100, cached_input_tokens=400, cache_write_tokens=100, reasoning_tokens=60
    )
    assert cost_usd(usage, Price(2.0, 8.0)) == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)


def test_reported_parts_larger_than_their_whole_are_no_negative_charge():
    usage = Usage(
        input_tokens=100, output_tokens=10, cached_input_tokens=80, cache_write_tokens=50, reasoning_tokens=30
    )
    assert cost_usd(usage, PRICE) == pytest.approx((80 * 0.5 + 20 * 2.5 + 10 * 3.0) / 1e6)


def test_a_request_fee_is_added_per_call():
    sonar = price_of("sonar", base_url="https://api.perplexity.ai")
    assert sonar.per_request == pytest.approx(0.012)  # $12 per 1,000 requests
    assert cost_usd(Usage(input_tokens=1000, output_tokens=500), sonar) == pytest.approx(
        (1000 + 500) * 1.0 / 1e6 + 0.012
    )


def test_reasoning_at_its_own_rate_where_the_source_prices_it():
    research = price_of("sonar-deep-research", base_url="https://api.perplexity.ai")
    usage = Usage(input_tokens=1000, output_tokens=3000, reasoning_tokens=2000)
    assert cost_usd(usage, research) == pytest.approx((1000 * 2.0 + 1000 * 8.0 + 2000 * 3.0) / 1e6)


def test_long_context_tiers_bill_the_whole_request_above_the_threshold():
    tiered = Price(Tiered(1.0, ((200, 2.0),)), Tiered(10.0, ((200, 15.0),)), Tiered(0.1, ((200, 0.2),)))
    at = Usage(input_tokens=200, output_tokens=10, cached_input_tokens=50)
    above = Usage(input_tokens=201, output_tokens=10, cached_input_tokens=50)
    assert cost_usd(at, tiered) == pytest.approx((150 * 1.0 + 50 * 0.1 + 10 * 10.0) / 1e6)
    assert cost_usd(above, tiered) == pytest.approx((151 * 2.0 + 50 * 0.2 + 10 * 15.0) / 1e6)
    haiku = price_of("claude-haiku-5-5", kind="anthropic")  # Claude Haiku 5.5 costs 5x above a 100K-token prompt
    assert cost_usd(Usage(input_tokens=100_000, output_tokens=1000), haiku) == pytest.approx(
        (100_000 * 0.10 + 1000 * 0.50) / 1e6
    )
    assert cost_usd(
        Usage(input_tokens=110_000, output_tokens=1000, cached_input_tokens=20_000), haiku
    ) == pytest.approx((90_000 * 0.50 + 20_000 * 0.05 + 1000 * 2.50) / 1e6)


@pytest.mark.parametrize("usage", [Usage(), Usage(input_tokens=10), Usage(output_tokens=10)])
def test_unknown_tokens_give_unknown_cost(usage):
    assert cost_usd(usage, PRICE) is None


def test_unknown_price_gives_unknown_cost_not_zero():
    assert cost_usd(Usage(input_tokens=10, output_tokens=10), None) is None
    assert cost_usd(Usage(input_tokens=0, output_tokens=0), PRICE) == 0


# --- what the providers report ---

REQUEST = Request(model="m", provider="openai", model_id="x", messages=(), params={})


def test_openai_reasoning_is_part_of_completion_tokens():
    raw = {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    assert openai_usage(raw, REQUEST, "") == Usage(100, 50, 40, cache_write_tokens=10, reasoning_tokens=30)


def test_xai_reasoning_is_added_to_completion_tokens_as_its_total_says():
    raw = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 150,
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    assert openai_usage(raw, REQUEST, "") == Usage(100, 50, reasoning_tokens=30)


def test_perplexity_top_level_reasoning_is_added_to_completion_tokens():
    raw = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "reasoning_tokens": 300}
    assert openai_usage(raw, REQUEST, "") == Usage(100, 320, reasoning_tokens=300)


def test_anthropic_cache_reads_and_writes_are_part_of_the_prompt_and_priced_apart():
    """Anthropic's own input_tokens excludes cache reads and writes; the adapter adds them, so cost must not."""
    raw = {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 3}
    usage = anthropic_usage(raw, REQUEST, "")
    assert usage == Usage(125, 3, 100, cache_write_tokens=20)
    expected = (5 * 1.0 + 100 * 0.10 + 20 * 1.25 + 3 * 5.0) / 1e6
    assert cost_usd(usage, price_of("claude-haiku-4-5-20251001", kind="anthropic")) == pytest.approx(expected)


def test_gemini_thoughts_are_output_and_tool_prompts_input():
    raw = {
        "promptTokenCount": 100,
        "toolUsePromptTokenCount": 7,
        "cachedContentTokenCount": 60,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
    }
    assert gemini_usage(raw, REQUEST, "") == Usage(107, 50, 60, reasoning_tokens=30)


# --- overrides from a model spec ---


def test_price_from_spec():
    price = price_from_spec(
        {"input_per_mtok": 1, "output_per_mtok": 4.5, "cached_input_per_mtok": 0.25}, source="price: in p.yaml:3"
    )
    assert price == Price(1.0, 4.5, 0.25, source="price: in p.yaml:3")
    assert price_from_spec({"input_per_mtok": 0, "output_per_mtok": 0}) == Price(0.0, 0.0, None, source="config")


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


# --- a run, as a user sees it ---


def test_every_report_says_what_priced_each_call(pytester, write, model_server, openai_config):
    """A snapshot price (with a provider hint), a promptguard.yaml price that wins over the snapshot's, and an
    unknown one: the call records, the JSON report, the call log and the terminal say which."""
    openai_config(
        models={
            "groq": {
                "provider": "openai",
                "model": "llama-3.1-8b-instant",
                "base_url": model_server.url,
                "price_provider": "groq",
            },
            "mine": {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": model_server.url,
                "price": {"input_per_mtok": 2.0, "output_per_mtok": 4.0},
            },
            "unknown": {"provider": "openai", "model": "mystery-1", "base_url": model_server.url},
        }
    )
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion("echo hi", model=request["model"], prompt_tokens=1000, completion_tokens=500)
    )
    write(
        "s.prompt.yaml",
        "models: [fast, groq, mine, unknown]\ncases: [{id: c, prompt: p, checks: [{contains: echo}]}]\n",
    )
    result = pytester.runpytest("--promptguard", "--promptguard-report=report.json", "--promptguard-log=calls.jsonl")
    result.assert_outcomes(passed=4)
    calls = {
        case["model"]: case["calls"][0] for case in json.loads((pytester.path / "report.json").read_text())["cases"]
    }
    snapshot = source_label()
    assert (calls["fast"]["price_source"], calls["fast"]["priced_as"]) == (snapshot, "openai:gpt-4o-mini")
    assert calls["fast"]["cost_usd"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert (calls["groq"]["price_source"], calls["groq"]["priced_as"]) == (snapshot, "groq:llama-3.1-8b-instant")
    assert calls["groq"]["cost_usd"] == pytest.approx((1000 * 0.05 + 500 * 0.08) / 1e6)
    mine_line = (pytester.path / "promptguard.yaml").read_text().splitlines().index("    price:") + 1
    assert (
        calls["mine"]["price_source"] == f"price: in promptguard.yaml:{mine_line}"
        and calls["mine"]["priced_as"] is None
    )
    assert calls["mine"]["cost_usd"] == pytest.approx((1000 * 2.0 + 500 * 4.0) / 1e6)
    assert (calls["unknown"]["cost_usd"], calls["unknown"]["price_source"]) == (None, None)
    logged = {line["model"]: line for line in map(json.loads, (pytester.path / "calls.jsonl").read_text().splitlines())}
    assert {m: (line["price_source"], line["priced_as"]) for m, line in logged.items()} == {
        m: (call["price_source"], call["priced_as"]) for m, call in calls.items()
    }
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["price_sources"] == {snapshot: 2, f"price: in promptguard.yaml:{mine_line}": 1, "unknown": 1}
    result.stdout.fnmatch_lines(
        [f"prices: {snapshot} (2 calls); price: in promptguard.yaml:{mine_line} (1 call);", "  unknown (1 call)"]
    )


def test_an_unknown_price_provider_names_the_file_line_and_the_choices(pytester, write, model_server, openai_config):
    openai_config(price_provider="openruter")
    write("s.prompt.yaml", "cases: [{id: c, prompt: p}]\n")
    result = pytester.runpytest("--promptguard")
    assert result.ret != 0
    line = (pytester.path / "promptguard.yaml").read_text().splitlines().index("    price_provider: openruter") + 1
    out = result.stdout.str()
    assert f"promptguard.yaml:{line}: price_provider: no provider 'openruter' in the price snapshot" in out
    assert "(did you mean 'openrouter'?)" in out and "use one of: " in out


def test_a_replayed_call_says_its_cost_is_the_golden_record(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion("echo hi", prompt_tokens=1000, completion_tokens=500)
    )
    write("s.prompt.yaml", "cases: [{id: c, prompt: p, checks: [{contains: echo}]}]\n")
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    result = pytester.runpytest("--promptguard", "--promptguard-replay", "--promptguard-report=report.json")
    result.assert_outcomes(passed=1)
    [call] = json.loads((pytester.path / "report.json").read_text())["cases"][0]["calls"]
    assert (call["source"], call["price_source"]) == ("replay", "as recorded in the golden")
    assert call["cost_usd"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    result.stdout.fnmatch_lines(["prices: as recorded in the golden (1 call)"])
