"""How a case's calls stand against its golden, for the judge and the fixture alike: answering from the golden
(replay), a served model or fingerprint that changed, the golden's figures the reports show, and the suite's
latency targets over its live calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..checks import GoldenRef
from ..config.loader import DriftSettings, ModelSpec
from ..core.results import Call, CallError, CheckResult, Request, percentile


def replayed(golden: GoldenRef, spec: ModelSpec, request: Request, samples: int) -> list[Call]:
    """`samples` calls answering as the golden recorded them, or one error call saying why it cannot be replayed."""
    problem = golden.unusable()
    if problem is not None or golden.entry is None:
        error = CallError("replay", f"cannot replay: {problem}")
        return [
            Call(model=spec.name, provider=spec.provider, model_asked=request.model_id, source="replay", error=error)
        ]
    return golden.entry.replayed_calls(spec.name, spec.provider, samples)


def model_change(golden: GoldenRef, call: Call, model: str, fatal: bool) -> CheckResult | None:
    """A served model or fingerprint that differs from the golden's: reported, and fatal when strict. Not for
    a replay, which cannot differ, nor against a missing, stale or recording golden."""
    entry = golden.entry
    if entry is None or golden.stale or golden.recording or call.source == "replay":
        return None
    changes = [
        f"{what} {then} → {now}"
        for what, then, now in (
            ("served model", entry.model_served, call.model_served),
            ("fingerprint", entry.fingerprint, call.fingerprint),
        )
        if then is not None and now is not None and then != now
    ]
    if not changes:
        return None
    how = (
        "fails under --promptguard-strict / drift.model_change: fail"
        if fatal
        else "reported; fatal with --promptguard-strict"
    )
    return CheckResult("model_change", not fatal, f"{model}: {'; '.join(changes)} ({how})")


def golden_summary(
    golden: GoldenRef, calls: Sequence[Call], checks: Sequence[Sequence[CheckResult]], drift: DriftSettings
) -> dict[str, Any] | None:
    """What the reports need of the golden: its figures, and the first call's similarity to it (with the
    golden output when a golden check failed, for the reports' golden → now diff)."""
    entry = golden.entry
    if entry is None:
        return None
    from ..checks.golden import similarity_to_golden  # the golden family, imported when there is a golden

    summary: dict[str, Any] = {
        "state": "stale" if golden.stale else "ok",
        "model_served": entry.model_served,
        "fingerprint": entry.fingerprint,
        "latency_p50_ms": entry.latency_p50_ms,
        "latency_p95_ms": entry.latency_p95_ms,
        "latencies_ms": entry.latencies,
        "tokens_out": entry.tokens_out,
        "cost_usd": entry.cost_usd,
        "similarity": similarity_to_golden(entry.output, entry.tool_calls, calls[0], drift.scorer),
        "min_similarity": drift.min_similarity,
        "passed": None,
    }
    if any(r.name == "golden" and not r.passed for sample in checks for r in sample):
        summary["output"] = entry.output  # for the golden → now diff of the reports
    return summary


def slo_breaches(slo: dict[str, float], calls: Sequence[Call], model: str) -> str | None:
    """What a suite's latency targets (`slo: {p95_ms, ttft_p95_ms, ...}`) say of its live calls to one model:
    None when every target holds."""
    measured = {
        "": [c.latency_ms for c in calls],
        "ttft_": [c.ttft_ms for c in calls if c.ttft_ms is not None],
    }
    broken = []
    for key, target in sorted(slo.items()):
        name = key[:-3]  # p95, ttft_p95
        measure, _, q = name.rpartition("p")
        values = measured[measure]
        if not values:  # a ttft target on calls that did not stream: the user's to fix, not a pass
            broken.append(
                f"{name}: no time to first token measured; set stream: true on model '{model}' in promptguard.yaml"
            )
            continue
        value = percentile(values, float(q)) or 0.0
        if value > target:
            broken.append(f"{name} {value:.0f} ms > target {target:g} ms")
    if not broken:
        return None
    return f"latency SLO broken for model '{model}' over {len(calls)} live calls: " + "; ".join(broken)
