"""Budget checks: how long an answer may be, how long it may take, what it may cost."""

from __future__ import annotations

from typing import Any

from ..results import percentile
from .registry import BuildContext, CaseInput, Check, CheckInput, register, result


@register(
    "length",
    {
        "type": "object",
        "description": "length: {min_chars, max_chars, max_output_tokens}",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "min_chars": {"type": "integer", "minimum": 0},
            "max_chars": {"type": "integer", "minimum": 0},
            "max_output_tokens": {"type": "integer", "minimum": 0},
        },
    },
)
def build_length(argument: dict[str, int], context: BuildContext) -> Check:
    def length(given: CheckInput) -> Any:
        chars, tokens = len(given.call.text), given.call.tokens_out
        problems = []
        if "min_chars" in argument and chars < argument["min_chars"]:
            problems.append(f"{chars} chars < min {argument['min_chars']}")
        if "max_chars" in argument and chars > argument["max_chars"]:
            problems.append(f"{chars} chars > max {argument['max_chars']}")
        if "max_output_tokens" in argument and tokens is not None and tokens > argument["max_output_tokens"]:
            problems.append(f"{tokens} output tokens > max {argument['max_output_tokens']}")
        if problems:
            return result("length", False, "; ".join(problems))
        return result("length", True, f"{chars} chars, {tokens if tokens is not None else '?'} output tokens")

    return length


def _live_latencies(calls: Any) -> list[float]:
    return [c.latency_ms for c in calls if c.error is None and c.source == "live"]


@register(
    "latency",
    {
        "type": "object",
        "description": "latency: {max_ms: every sample at most, p95_ms: the samples' p95 at most}",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {"max_ms": {"type": "number", "exclusiveMinimum": 0}, "p95_ms": {"type": "number", "exclusiveMinimum": 0}},
    },
    scope="case",
)
def build_latency(argument: dict[str, float], context: BuildContext) -> Any:
    def latency(given: CaseInput) -> Any:
        latencies = _live_latencies(given.calls)
        if not latencies:
            return result("latency", True, "no live call to time (cached or replayed calls are not timed)")
        problems, figures = [], []
        if "max_ms" in argument:
            worst = max(latencies)
            figures.append(f"max {worst:.0f} ms")
            if worst > argument["max_ms"]:
                slow = sum(value > argument["max_ms"] for value in latencies)
                problems.append(f"{slow} of {len(latencies)} samples over {argument['max_ms']:g} ms (max {worst:.0f} ms)")
        if "p95_ms" in argument:
            p95 = percentile(latencies, 95) or 0.0
            figures.append(f"p95 {p95:.0f} ms")
            if p95 > argument["p95_ms"]:
                problems.append(f"p95 {p95:.0f} ms > {argument['p95_ms']:g} ms over {len(latencies)} samples")
        if problems:
            return result("latency", False, "; ".join(problems))
        return result("latency", True, ", ".join(figures) + f" over {len(latencies)} samples")

    return latency


@register(
    "cost",
    {
        "type": "object",
        "description": "cost: {max_usd: the most one call may cost}",
        "additionalProperties": False,
        "required": ["max_usd"],
        "properties": {"max_usd": {"type": "number", "minimum": 0}},
    },
)
def build_cost(argument: dict[str, float], context: BuildContext) -> Check:
    limit = argument["max_usd"]

    def cost(given: CheckInput) -> Any:
        spent = given.call.cost_usd
        if spent is None:
            return result(
                "cost", False,
                f"cost unknown: no price for model '{given.call.model}' ({given.call.model_served or given.call.model_asked}); "
                "set price: {input_per_mtok, output_per_mtok} in promptguard.yaml",
            )
        passed = spent <= limit
        return result("cost", passed, f"${spent:.6f} {'<=' if passed else '>'} max ${limit:g}", score=spent)

    return cost
