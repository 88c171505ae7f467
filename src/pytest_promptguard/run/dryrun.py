"""`--promptguard-dry-run`: what a run would call and roughly what it would cost, from the collected items
alone, so a new suite, a bigger `repeat` or a pricier model is priced before it is paid for.

Input tokens are counted from the rendered prompts (about four characters a token). Output tokens are a
range: at least what the goldens recorded (nothing where there is no golden), at most `max_tokens` (or
DEFAULT_OUTPUT_TOKENS a reply when a request sets none). A conversation is counted as one call per reply,
each sending the whole conversation's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..call.scheduler import DEFAULT_OUTPUT_TOKENS
from ..config.pricetable import table_price
from ..config.pricing import cost_usd
from ..core.results import Usage
from ..core.wording import counted, usd
from ..providers.base import estimate_tokens

if TYPE_CHECKING:
    from .judging import CaseJudge


@dataclass
class Estimate:
    """What the items of one model would make: calls, tokens and cost, each as a low–high range."""

    model: str
    provider: str
    asks: str
    cases: int = 0
    calls: tuple[int, int] = (0, 0)
    input_tokens: tuple[int, int] = (0, 0)
    output_tokens: tuple[int, int] = (0, 0)
    cost_usd: tuple[float, float] | None = (0.0, 0.0)  # None: no price known for some of its calls

    def add(
        self, calls: tuple[int, int], tokens_in: int, tokens_out: tuple[int, int], cost: tuple[float, float] | None
    ) -> None:
        self.cases += 1
        self.calls = (self.calls[0] + calls[0], self.calls[1] + calls[1])
        self.input_tokens = (self.input_tokens[0] + tokens_in * calls[0], self.input_tokens[1] + tokens_in * calls[1])
        self.output_tokens = (
            self.output_tokens[0] + tokens_out[0] * calls[0],
            self.output_tokens[1] + tokens_out[1] * calls[1],
        )
        if cost is None or self.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd = (self.cost_usd[0] + cost[0] * calls[0], self.cost_usd[1] + cost[1] * calls[1])


def estimate(items: Sequence[CaseJudge]) -> list[Estimate]:
    """One estimate per model the items call, in the order they first appear."""
    by_model: dict[str, Estimate] = {}
    for item in items:
        spec, request = item.spec, item.request
        row = by_model.setdefault(spec.name, Estimate(spec.name, spec.provider, request.model_id or "-"))
        replies = sum(bool(t.get("reply")) for t in request.turns) or 1
        text = "".join(str(m.get("content", "")) for m in (*request.messages, *request.turns))
        tokens_in = estimate_tokens(text) * replies
        entry = item.golden_ref().entry
        recorded = round(entry.tokens_out or 0) if entry is not None else 0
        most = int(
            request.params.get("max_tokens")
            or request.params.get("max_completion_tokens")
            or max(DEFAULT_OUTPUT_TOKENS, recorded)
        )
        tokens_out = (recorded, most * replies)
        price = spec.price or table_price(
            (request.model_id,),
            kind=spec.provider,
            base_url=spec.base_url,
            hint=spec.price_provider,
            when=datetime.now(timezone.utc),
        )
        cost = None
        if price is not None:
            cost = (
                cost_usd(Usage(input_tokens=tokens_in, output_tokens=tokens_out[0]), price) or 0.0,
                cost_usd(Usage(input_tokens=tokens_in, output_tokens=tokens_out[1]), price) or 0.0,
            )
        row.add(_calls(item), tokens_in, tokens_out, cost)
    return list(by_model.values())


def _calls(item: CaseJudge) -> tuple[int, int]:
    """How many samples the item would take: a range for `repeat: auto`."""
    if item.adaptive and item.sampled_baseline() is not None:
        return item.drift.auto_min, item.drift.auto_max
    return item.samples, item.samples


def lines(estimates: Sequence[Estimate], not_run: int) -> list[str]:
    """The dry run's table for the terminal."""
    header = (
        f"{'model':<14} {'provider':<9} {'asks':<20} {'cases':>5} {'calls':>9} {'input tok':>10} "
        f"{'output tok':>12} {'est. cost':>15}"
    )
    rows = [header]
    for e in estimates:
        rows.append(
            f"{e.model[:14]:<14} {e.provider[:9]:<9} {e.asks[:20]:<20} {e.cases:>5} {_range(e.calls):>9} "
            f"{_range(e.input_tokens):>10} {_range(e.output_tokens):>12} {_cost(e.cost_usd):>15}"
        )
    calls = sum(e.calls[1] for e in estimates)
    priced = [e.cost_usd for e in estimates if e.cost_usd is not None]
    unpriced = [e.model for e in estimates if e.cost_usd is None]
    total = _cost((sum(c[0] for c in priced), sum(c[1] for c in priced))) if priced else "unknown"
    unknown = f" (no price known for: {', '.join(unpriced)}; set price: in promptguard.yaml)" if unpriced else ""
    rows.append(f"dry run: nothing was called; at most {counted(calls, 'call')}, estimated cost {total}{unknown}")
    rows.append(
        f"output tokens: at least the goldens' (0 where none is recorded), at most max_tokens (else "
        f"{DEFAULT_OUTPUT_TOKENS}) a reply; ~4 characters a token"
    )
    if not_run:
        rows.append(f"{not_run} other test(s) collected and not run (dry run)")
    return rows


def _range(pair: tuple[int, int]) -> str:
    return f"{pair[0]:,}" if pair[0] == pair[1] else f"{pair[0]:,}–{pair[1]:,}"


def _cost(pair: tuple[float, float] | None) -> str:
    if pair is None:
        return "?"
    return usd(pair[0]) if pair[0] == pair[1] else f"{usd(pair[0])}–{usd(pair[1])}"
