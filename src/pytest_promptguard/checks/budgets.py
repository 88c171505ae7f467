"""Budget checks: how long an answer may be, how long it may take, what it may cost."""

from __future__ import annotations

from statistics import fmean
from typing import Any

from ..core.results import percentile
from ..golden.entry import GoldenEntry
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
    return [c.latency_ms for c in calls if c.timed]


def _judge_ttft(argument: dict[str, float], given: CaseInput, problems: list[str], figures: list[str]) -> None:
    """The `ttft_p50_ms`/`ttft_p95_ms` bounds over the live samples' time to first token. A bound on calls that
    did not stream is a mistake in the suite or config, so it fails, saying how to measure it."""
    bounds = [(key, argument[key]) for key in ("ttft_p50_ms", "ttft_p95_ms") if key in argument]
    if not bounds:
        return
    live = [c for c in given.calls if c.timed]
    ttfts = [c.ttft_ms for c in live if c.ttft_ms is not None]
    if not ttfts:
        problems.append(
            f"no time to first token measured over {len(live)} live samples: set stream: true on model "
            f"'{live[0].model}' in promptguard.yaml"
        )
        return
    for key, bound in bounds:
        name = key[:-3].replace("_", " ")  # ttft p95
        value = percentile(ttfts, float(key[6:-3])) or 0.0
        if value > bound:
            problems.append(f"{name} {value:.0f} ms > {bound:g} ms over {len(ttfts)} samples")
        else:
            figures.append(f"{name} {value:.0f} ms")


def _baseline(given: CaseInput) -> tuple[GoldenEntry | None, str | None]:
    """The golden to compare with, or why a regression check has nothing to compare (which is no failure)."""
    ref = given.golden
    if ref is None or ref.recording:
        return None, "recording the baseline (--promptguard-update)"
    if ref.entry is None:
        return None, "no baseline recorded yet"
    if ref.stale:
        return None, "the baseline is stale (the prompt changed); not compared"
    return ref.entry, None


_REGRESSION = {"type": "number", "exclusiveMinimum": 0, "description": "allowed growth over the golden, 0.25 = +25%"}


@register(
    "latency",
    {
        "type": "object",
        "description": "latency: {max_ms: every sample at most, p50_ms / p95_ms / p99_ms: the samples' percentiles "
        "at most, "
        "ttft_p50_ms / ttft_p95_ms: the samples' time to first token at most (needs stream: true on the model), "
        "regression: allowed p95 growth over the golden's (0.25 = +25%), slack_ms: added to that bound (default 50)}",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "max_ms": {"type": "number", "exclusiveMinimum": 0},
            "p50_ms": {"type": "number", "exclusiveMinimum": 0},
            "p95_ms": {"type": "number", "exclusiveMinimum": 0},
            "p99_ms": {"type": "number", "exclusiveMinimum": 0},
            "ttft_p50_ms": {"type": "number", "exclusiveMinimum": 0},
            "ttft_p95_ms": {"type": "number", "exclusiveMinimum": 0},
            "regression": _REGRESSION,
            "slack_ms": {"type": "number", "minimum": 0},
        },
    },
    scope="case",
)
def build_latency(argument: dict[str, float], context: BuildContext) -> Any:
    def latency(given: CaseInput) -> Any:
        latencies = _live_latencies(given.calls)
        if not latencies:
            return result("latency", True, "no live call to time (cached or replayed calls are not timed)")
        problems, figures = [], []
        p95 = percentile(latencies, 95) or 0.0
        if "max_ms" in argument:
            worst = max(latencies)
            figures.append(f"max {worst:.0f} ms")
            if worst > argument["max_ms"]:
                slow = sum(value > argument["max_ms"] for value in latencies)
                problems.append(
                    f"{slow} of {len(latencies)} samples over {argument['max_ms']:g} ms (max {worst:.0f} ms)"
                )
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            if key in argument:
                value = percentile(latencies, float(key[1:3])) or 0.0
                figures.append(f"{key[:3]} {value:.0f} ms")
                if value > argument[key]:
                    problems.append(f"{key[:3]} {value:.0f} ms > {argument[key]:g} ms over {len(latencies)} samples")
        _judge_ttft(argument, given, problems, figures)
        if "regression" in argument:
            golden, why_not = _baseline(given)
            if golden is None or golden.latency_p95_ms is None:
                figures.append(f"regression: {why_not or 'the baseline has no latency'}")
            else:
                tolerance, slack = argument["regression"], argument.get("slack_ms", 50.0)
                bound = golden.latency_p95_ms * (1 + tolerance) + slack
                then = golden.latency_p95_ms
                compared = (
                    f"p95 {p95:.0f} ms vs baseline p95 {then:.0f} ms × {1 + tolerance:g} + {slack:g} ms "
                    f"= {bound:.0f} ms ({len(latencies)} vs {len(golden.samples)} samples)"
                )
                if len(latencies) == 1:
                    compared += "; thin evidence from one sample: set repeat: 5 for a steadier p95"
                (problems if p95 > bound else figures).append(
                    ("latency regression: " if p95 > bound else "") + compared
                )
        if problems:
            return result("latency", False, "; ".join(problems))
        return result("latency", True, ", ".join(figures) + f" over {len(latencies)} samples")

    return latency


@register(
    "cost",
    {
        "type": "object",
        "description": "cost: {max_usd: the most one call may cost, regression: allowed growth of tokens out and "
        "cost per call over the golden's (0.25 = +25%)}",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {"max_usd": {"type": "number", "minimum": 0}, "regression": _REGRESSION},
    },
    scope="case",
)
def build_cost(argument: dict[str, float], context: BuildContext) -> Any:
    def cost(given: CaseInput) -> Any:
        calls = [c for c in given.calls if c.error is None and c.source != "replay"]
        if not calls:
            return result("cost", True, "no call to cost (replayed calls are the golden's own)")
        problems, figures = [], []
        if "max_usd" in argument:
            limit = argument["max_usd"]
            unknown = [c for c in calls if c.cost_usd is None]
            if unknown:
                call = unknown[0]
                problems.append(
                    f"cost unknown: no price for model '{call.model}' ({call.model_served or call.model_asked}); "
                    "set price: {input_per_mtok, output_per_mtok} in promptguard.yaml"
                )
            else:
                worst = max(c.cost_usd for c in calls)  # type: ignore[type-var]
                (figures if worst <= limit else problems).append(
                    f"${worst:.6f} {'<=' if worst <= limit else '>'} max ${limit:g}"
                )
        if "regression" in argument:
            golden, why_not = _baseline(given)
            if golden is None:
                figures.append(f"regression: {why_not}")
            else:
                growth = 1 + argument["regression"]
                for label, now, then, unit in (
                    (
                        "tokens out",
                        fmean([c.tokens_out for c in calls if c.tokens_out is not None] or [0]),
                        golden.tokens_out,
                        "",
                    ),
                    (
                        "cost per call",
                        fmean([c.cost_usd for c in calls if c.cost_usd is not None] or [0]),
                        golden.cost_usd,
                        "$",
                    ),
                ):
                    if then is None or not then:
                        continue
                    change = f"{now / then - 1:+.0%}, allowed +{growth - 1:.0%}"
                    text = f"{label} {unit}{now:.6g} vs baseline {unit}{then:.6g} ({change})"
                    (problems if now > then * growth else figures).append(
                        ("cost regression: " if now > then * growth else "") + text
                    )
        if problems:
            return result("cost", False, "; ".join(problems))
        return result("cost", True, "; ".join(figures) or "within budget")

    return cost
