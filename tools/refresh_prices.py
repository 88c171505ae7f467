"""Write `src/pytest_promptguard/data/prices.json` from the installed genai-prices package (Pydantic's price data).

Run before each release, and whenever prices should be refreshed:

    pip install -e '.[dev]'            # the genai-prices version pinned in the dev extra (bump it to refresh)
    python tools/refresh_prices.py     # then run tests/test_pricing.py and commit the table

The table is a snapshot: runs never read genai-prices (nor the network), so installing promptguard costs no
pydantic and no second HTTP stack, and starting a run costs no price import. It keeps what a text call is billed
for (input, cache read and write, output, reasoning tokens, and per-request fees), every provider's API URL
pattern and id aliases, every model's match rule, and every dated or time-of-day price period, in the source's own
order (the first match wins, as in genai-prices). Batch and service-tier variants are left out: promptguard sends
standard requests. The snapshot date changes only when the prices do, so refreshing twice changes nothing.
"""

from __future__ import annotations

import datetime
import json
import sys
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any

from genai_prices import types
from genai_prices.data import providers

TABLE = Path(__file__).resolve().parent.parent / "src" / "pytest_promptguard" / "data" / "prices.json"
FORMAT_VERSION = 2
#: The source's price keys a text call can incur; the others (audio, images, searches, pages...) never arise here.
KEPT = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok", "output_reasoning_mtok", "requests_kcount")
CLAUSES = {
    types.ClauseStartsWith: "starts_with",
    types.ClauseEndsWith: "ends_with",
    types.ClauseContains: "contains",
    types.ClauseEquals: "equals",
    types.ClauseRegex: "regex",
}


def clause(logic: Any) -> dict[str, Any]:
    """A match rule as JSON, its text lowercased as genai-prices compares it (a regex is kept as written)."""
    if isinstance(logic, types.ClauseOr):
        return {"or": [clause(c) for c in logic.or_]}
    if isinstance(logic, types.ClauseAnd):
        return {"and": [clause(c) for c in logic.and_]}
    name = CLAUSES[type(logic)]  # a KeyError here is a new kind of rule: teach this script and pricetable.py
    text = getattr(logic, name)
    return {name: text if name == "regex" else text.lower()}


def rate(value: Decimal | types.TieredPrices) -> float | dict[str, Any]:
    if isinstance(value, types.TieredPrices):
        return {"base": float(value.base), "tiers": [[tier.start, float(tier.price)] for tier in value.tiers]}
    return float(value)


def prices(model_price: types.ModelPrice) -> dict[str, Any]:
    return {key: rate(getattr(model_price, key)) for key in KEPT if getattr(model_price, key, None) is not None}


def utc_time(value: datetime.time) -> str:
    moment = datetime.datetime.combine(datetime.date(2000, 1, 1), value)
    if value.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%H:%M:%S")


def periods(model: types.ModelInfo) -> list[dict[str, Any]]:
    """The model's price periods in the source's order; at a date the last one in force applies, else the first."""
    if isinstance(model.prices, types.ModelPrice):
        return [{"prices": prices(model.prices)}]
    found = []
    for conditional in model.prices:
        period: dict[str, Any] = {"prices": prices(conditional.prices)}
        constraint = conditional.constraint
        if isinstance(constraint, types.StartDateConstraint):
            period["from"] = constraint.start_date.isoformat()
        elif isinstance(constraint, types.TimeOfDateConstraint):
            period["daily_utc"] = [utc_time(constraint.start_time), utc_time(constraint.end_time)]
        elif constraint is not None:
            raise SystemExit(f"{model.id}: unknown price constraint {type(constraint).__name__}: teach this script")
        found.append(period)
    return found


def model_entry(model: types.ModelInfo) -> dict[str, Any] | None:
    """None when no period prices input tokens: a text call's cost would be unknown, so the model is left out."""
    found = periods(model)
    if not any("input_mtok" in p["prices"] for p in found):
        return None
    return {"id": model.id, "match": clause(model.match), "periods": found}


def provider_entry(provider: types.Provider) -> dict[str, Any]:
    return {
        "id": provider.id,
        "name": provider.name,
        "api_pattern": provider.api_pattern,
        "model_match": clause(provider.model_match) if provider.model_match else None,
        "provider_match": clause(provider.provider_match) if provider.provider_match else None,
        "fallback": provider.fallback_model_providers or [],
        "models": [entry for model in provider.models if (entry := model_entry(model)) is not None],
    }


def dump(table: dict[str, Any]) -> str:
    """JSON with one model a line, so a refresh reviews as one changed line per changed price."""
    lines = ["{"]
    for key in ("format_version", "source", "kept"):
        lines.append(f'  "{key}": {json.dumps(table[key])},')
    lines.append('  "providers": [')
    for p_index, provider in enumerate(table["providers"]):
        head = {k: v for k, v in provider.items() if k != "models"}
        lines.append("    " + json.dumps(head)[:-1] + ', "models": [')
        models = provider["models"]
        lines += [f"      {json.dumps(m)}{',' if i < len(models) - 1 else ''}" for i, m in enumerate(models)]
        lines.append("    ]}" + ("," if p_index < len(table["providers"]) - 1 else ""))
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    entries = [provider_entry(p) for p in providers]
    snapshot = datetime.date.today().isoformat()
    source = {
        "name": "genai-prices",
        "version": version("genai-prices"),
        "snapshot": snapshot,
        "url": "https://github.com/pydantic/genai-prices",
    }
    if TABLE.exists():
        old = json.loads(TABLE.read_text(encoding="utf-8"))
        same = old.get("format_version") == FORMAT_VERSION and old["source"]["version"] == source["version"]
        if same and old.get("providers") == entries:
            source["snapshot"] = old["source"]["snapshot"]  # nothing changed: keep the date the prices were taken
    table = {"format_version": FORMAT_VERSION, "source": source, "kept": list(KEPT), "providers": entries}
    TABLE.write_text(dump(table), encoding="utf-8")
    models = sum(len(p["models"]) for p in entries)
    print(
        f"{TABLE}: genai-prices {source['version']} snapshot {source['snapshot']}: "
        f"{len(entries)} providers, {models} models"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
