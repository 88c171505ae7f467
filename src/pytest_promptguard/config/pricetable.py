"""The shipped price snapshot (`data/prices.json`, generated from genai-prices by tools/refresh_prices.py): which
provider serves a model, which of its entries prices the model id as users write it, and which price period
applies on the call's date.

Matching follows genai-prices (its match rules, in its order: the first match wins), so a price here is the
source's own figure. On top of it, ids as users write them find their provider: an explicit `price_provider`,
the model's `base_url`, the provider kind, a `vendor/model` prefix, then the source's own rules by model id.
Lookups are memoised per (provider, model id): a run pays for each model's search once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from functools import cache
from importlib.resources import files
from typing import Any

from .pricing import Price, Rate, Tiered

#: Provider kinds whose wire format names the provider whatever the base_url (a proxy in front of it).
_KIND_PROVIDERS = {"anthropic": "anthropic", "gemini": "google"}
#: Kinds that price from the snapshot only when the model says where (price_provider, or a known base_url): a local
#: Ollama's "deepseek-r1:7b" is not DeepSeek's API.
_LOCAL_KINDS = {"ollama"}
#: Bedrock model ids: `anthropic.claude-...-v1:0`, with an optional region prefix (`us.`, `global.`).
_BEDROCK_ID = re.compile(r"(?:[a-z]{2,6}\.)?[a-z][a-z0-9]*\.[a-z].*")
_COMPACT_DATE = re.compile(r"-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")
_PREFIXES = ("models/",)  # Gemini's resource names


@cache
def _snapshot() -> dict[str, Any]:
    return json.loads(files("pytest_promptguard").joinpath("data/prices.json").read_text(encoding="utf-8"))


def load() -> None:
    """Read the snapshot now rather than at the first price asked for."""
    _snapshot()


def source_label() -> str:
    """ "genai-prices 0.2.3 snapshot 2026-12-03": what every price from the snapshot says priced it."""
    source = _snapshot()["source"]
    return f"{source['name']} {source['version']} snapshot {source['snapshot']}"


def provider_ids() -> list[str]:
    return [p["id"] for p in _snapshot()["providers"]]


def _matches(rule: dict[str, Any], text: str) -> bool:
    """genai-prices' match rules; `text` is lowercased, and so are the rules' strings (not regexes)."""
    ((kind, arg),) = rule.items()
    return _RULES[kind](text, arg)


_RULES: dict[str, Callable[[str, Any], bool]] = {
    "equals": lambda text, arg: text == arg,
    "starts_with": lambda text, arg: text.startswith(arg),
    "ends_with": lambda text, arg: text.endswith(arg),
    "contains": lambda text, arg: arg in text,
    "regex": lambda text, arg: re.search(arg, text) is not None,
    "or": lambda text, arg: any(_matches(rule, text) for rule in arg),
    "and": lambda text, arg: all(_matches(rule, text) for rule in arg),
}


@cache
def _by_id() -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in _snapshot()["providers"]}


@cache
def find_provider(name: str) -> str | None:
    """The provider `name` (an id, or an alias the source knows: "bedrock" → aws, "vertex" → google) stands for."""
    name = name.strip().lower()
    providers = _snapshot()["providers"]
    if any(p["id"] == name for p in providers):
        return name
    return next((p["id"] for p in providers if p["provider_match"] and _matches(p["provider_match"], name)), None)


@cache
def _provider_of_url(base_url: str) -> str | None:
    return next((p["id"] for p in _snapshot()["providers"] if re.match(p["api_pattern"], base_url)), None)


def _model_in(provider_id: str, model_id: str, fallback: bool = True) -> dict[str, Any] | None:
    """The provider's first entry matching `model_id`, else one of the providers it resells (one step, as in the
    source)."""
    provider = _by_id()[provider_id]
    found = next((m for m in provider["models"] if _matches(m["match"], model_id)), None)
    if found is None and fallback:
        found = next(filter(None, (_model_in(other, model_id, False) for other in provider["fallback"])), None)
    return found


def _spellings(model_id: str) -> Iterable[str]:
    """The id as written, without a `models/` prefix, and with a compact date (`-20251211`) as the source's
    dashed one (`-2025-12-11`)."""
    yield model_id
    for prefix in _PREFIXES:
        if model_id.startswith(prefix):
            yield model_id[len(prefix) :]
    dashed = _COMPACT_DATE.sub(r"-\1-\2-\3", model_id)
    if dashed != model_id:
        yield dashed


def _find_in(provider_id: str, model_id: str) -> tuple[str, dict[str, Any]] | None:
    for spelling in _spellings(model_id):
        if (model := _model_in(provider_id, spelling)) is not None:
            return provider_id, model
    return None


def _guess(model_id: str) -> tuple[str, dict[str, Any]] | None:
    """No provider known: a `vendor/model` prefix naming a provider (the LiteLLM convention), Bedrock for its ids,
    the provider whose rule claims the id (genai-prices' own guess), then OpenRouter for `vendor/model` ids."""
    vendor, _, rest = model_id.partition("/")
    candidates = []
    if rest and (named := find_provider(vendor)) is not None:
        candidates.append((named, rest))
    if _BEDROCK_ID.fullmatch(model_id):
        candidates.append(("aws", model_id))
    providers = _snapshot()["providers"]
    claimed = next((p["id"] for p in providers if p["model_match"] and _matches(p["model_match"], model_id)), None)
    if claimed is not None:
        candidates.append((claimed, model_id))
    if rest:
        candidates.append(("openrouter", model_id))
    return next(filter(None, (_find_in(provider, model) for provider, model in candidates)), None)


@cache
def entry(model_id: str, provider: str | None) -> tuple[str, dict[str, Any]] | None:
    """(provider id, model entry) pricing `model_id`: within `provider` when it is known (nowhere else), else
    guessed from the id. Memoised: every call of a model after its first costs a dict lookup."""
    model_id = model_id.strip().lower()
    if not model_id:
        return None
    return _find_in(provider, model_id) if provider is not None else _guess(model_id)


@cache
def provider_for(kind: str, base_url: str | None, hint: str | None) -> str | None:
    """The provider whose prices apply: the hint, else the one whose API the base_url is, else the one the kind
    speaks for; None when the model id must tell."""
    if hint is not None:
        return find_provider(hint)
    if base_url and (found := _provider_of_url(base_url)) is not None:
        return found
    return _KIND_PROVIDERS.get(kind)


def _rate(value: float | dict[str, Any]) -> Rate:
    if isinstance(value, dict):
        return Tiered(value["base"], tuple((start, rate) for start, rate in value["tiers"]))
    return value


def _in_force(period: dict[str, Any], when: datetime) -> bool:
    if "from" in period:
        return when.date() >= date.fromisoformat(period["from"])
    if "daily_utc" in period:
        start, end = (time.fromisoformat(t) for t in period["daily_utc"])
        now = when.time()
        return start <= now < end if start <= end else (now >= start or now < end)
    return True


def _price(provider_id: str, model: dict[str, Any], when: datetime) -> Price | None:
    """The model's price on `when` (UTC): the last period in force, else the first (genai-prices' rule); None
    when that period prices no input tokens."""
    periods = model["periods"]
    rates = next((p for p in reversed(periods) if _in_force(p, when)), periods[0])["prices"]
    if "input_mtok" not in rates:
        return None
    optional = {
        key: _rate(rates[key]) if key in rates else None
        for key in ("cache_read_mtok", "cache_write_mtok", "output_reasoning_mtok")
    }
    return Price(
        input_per_mtok=_rate(rates["input_mtok"]),
        output_per_mtok=_rate(rates.get("output_mtok", 0.0)),  # the source lists none for embedding models
        cached_input_per_mtok=optional["cache_read_mtok"],
        cache_write_per_mtok=optional["cache_write_mtok"],
        reasoning_per_mtok=optional["output_reasoning_mtok"],
        per_request=rates.get("requests_kcount", 0.0) / 1000,
        source=source_label(),
        priced_as=f"{provider_id}:{model['id']}",
    )


def table_price(
    model_ids: Iterable[str | None], *, kind: str, base_url: str | None, hint: str | None, when: datetime
) -> Price | None:
    """The snapshot's price, on `when` (UTC), of the first of `model_ids` it knows (the served model, then the one
    asked); None when it knows none of them, so that the cost is reported as unknown."""
    provider = provider_for(kind, base_url, hint)
    if provider is None and kind in _LOCAL_KINDS:
        return None
    for model_id in model_ids:
        if model_id and (found := entry(model_id, provider)) is not None:
            return _price(*found, when)
    return None
