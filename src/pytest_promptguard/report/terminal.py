"""The `promptguard` section of pytest's terminal summary."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from ..results import CaseResult, percentile


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def summary_lines(results: Sequence[CaseResult]) -> list[str]:
    """One row per suite and model: cases, outcomes, latency p50/p95 and tokens; then a totals row."""
    groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for result in results:
        groups[(result.suite, result.model)].append(result)
    header = f"{'suite':<24} {'model':<12} {'cases':>5} {'pass':>5} {'fail':>5} {'error':>5} {'p50 ms':>8} {'p95 ms':>8} {'tok in':>8} {'tok out':>8}"
    lines = [header]

    def row(label: str, model: str, group: Sequence[CaseResult]) -> str:
        calls = [c for r in group for c in r.calls if c.error is None]
        latencies = [c.latency_ms for c in calls if c.source == "live"]
        count = {o: sum(r.outcome == o for r in group) for o in ("passed", "failed", "error")}
        return (
            f"{label[:24]:<24} {model[:12]:<12} {len(group):>5} {count['passed']:>5} {count['failed']:>5} "
            f"{count['error']:>5} {_fmt(percentile(latencies, 50)):>8} {_fmt(percentile(latencies, 95)):>8} "
            f"{sum(c.tokens_in or 0 for c in calls):>8,} {sum(c.tokens_out or 0 for c in calls):>8,}"
        )

    for (suite, model), group in sorted(groups.items()):
        lines.append(row(suite, model, group))
    if len(groups) > 1:
        lines.append(row("total", "", list(results)))
    estimated = sum(c.usage.estimated for r in results for c in r.calls if c.error is None)
    if estimated:
        lines.append(f"note: {estimated} call(s) reported no token usage; their tokens are estimated (~4 chars/token)")
    return lines
