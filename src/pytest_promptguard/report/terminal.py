"""The `promptguard` section of pytest's terminal summary."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from ..goldenbook import GoldenReport
from ..results import Call, CaseResult, percentile
from .upgrade import upgrade_lines, upgrade_reports

MAX_LISTED = 10


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cost(calls: Sequence[Call]) -> str:
    """Total cost; '?' marks a total that leaves out calls whose price is unknown (never counted as 0)."""
    known = [c.cost_usd for c in calls if c.cost_usd is not None]
    if not known:
        return "?" if calls else "-"
    return f"${sum(known):.4f}" + ("+?" if len(known) < len(calls) else "")


def _drifted(result: CaseResult) -> bool:
    return any(r.name == "golden" and not r.passed for sample in result.checks for r in sample)


def summary_lines(results: Sequence[CaseResult], goldens: GoldenReport | None = None) -> list[str]:
    """One row per suite and model: cases, outcomes, latency p50/p95, tokens and cost; totals; then goldens,
    model changes, upgrade reports and warnings."""
    groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for result in results:
        groups[(result.suite, result.model)].append(result)
    lines = [
        f"{'suite':<20} {'model':<12} {'cases':>5} {'pass':>5} {'fail':>5} {'drift':>5} {'error':>5} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'tok in':>7} {'tok out':>7} {'cost':>9}"
    ]

    def row(label: str, model: str, group: Sequence[CaseResult]) -> str:
        calls = [c for r in group for c in r.calls if c.error is None]
        latencies = [c.latency_ms for c in calls if c.source == "live"]
        count = {o: sum(r.outcome == o for r in group) for o in ("passed", "failed", "error")}
        drifted = sum(_drifted(r) for r in group)
        return (
            f"{label[:20]:<20} {model[:12]:<12} {len(group):>5} {count['passed']:>5} {count['failed']:>5} {drifted:>5} "
            f"{count['error']:>5} {_fmt(percentile(latencies, 50)):>7} {_fmt(percentile(latencies, 95)):>7} "
            f"{sum(c.tokens_in or 0 for c in calls):>7,} {sum(c.tokens_out or 0 for c in calls):>7,} {_cost(calls):>9}"
        )

    for (suite, model), group in sorted(groups.items()):
        lines.append(row(suite, model, group))
    if len(groups) > 1:
        lines.append(row("total", "", list(results)))
    lines += _golden_lines(goldens) if goldens else []
    lines += _model_changes(results)
    for report in upgrade_reports(results):
        lines += upgrade_lines(report)
    return lines + _warnings(results)


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def _golden_lines(goldens: GoldenReport) -> list[str]:
    lines = []
    counts = goldens.counts
    if counts.added or counts.updated or counts.removed or counts.unchanged:
        lines.append(
            f"goldens: {counts.added} added, {counts.updated} updated, {counts.removed} removed, "
            f"{counts.unchanged} unchanged" + (f" (written: {', '.join(goldens.written)})" if goldens.written else "")
        )
    if goldens.unused:
        lines.append(
            f"unused goldens ({len(goldens.unused)}): {_listed(goldens.unused)}; their cases or models no longer "
            "exist: run the whole suite with --promptguard-update to remove them"
        )
    lines += [f"error: {error}" for error in goldens.errors]
    return lines


def _model_changes(results: Sequence[CaseResult]) -> list[str]:
    """One line per distinct change of served model or fingerprint, with how many cases saw it."""
    changes: dict[str, int] = defaultdict(int)
    for result in results:
        for check in result.case_checks:
            if check.name == "model_change":
                changes[check.reason] += 1
    return [f"model change: {reason} [{count} case{'s' if count > 1 else ''}]" for reason, count in changes.items()]


def _warnings(results: Sequence[CaseResult]) -> list[str]:
    calls = [c for r in results for c in r.calls]
    answered = [c for c in calls if c.error is None]
    warnings = []
    # A `python` callable is the application itself: its cost is unknown unless it reports one or has a
    # price, and saying so for every example run would be noise.
    unpriced = sorted(
        {f"{c.model} ({c.model_served or c.model_asked})" for c in answered if c.cost_usd is None and c.provider != "python"}
    )
    if unpriced:
        warnings.append(
            f"no price known for: {', '.join(unpriced)}; their cost is unknown (not 0): "
            "set price: {input_per_mtok, output_per_mtok} in promptguard.yaml"
        )
    estimated = sum(c.usage.estimated for c in answered)
    if estimated:
        warnings.append(f"{estimated} call(s) reported no token usage; their tokens are estimated (~4 chars/token)")
    retried = [c for c in calls if c.attempts > 1]
    if retried:
        warnings.append(f"{len(retried)} call(s) needed retries ({sum(c.attempts - 1 for c in retried)} retries in all)")
    for source, how in (("cache", "answered from the response cache"), ("replay", "replayed from goldens")):
        count = sum(c.source == source for c in calls)
        if count:
            warnings.append(f"{count} call(s) {how} (not counted in latency)")
    return [f"warning: {w}" for w in warnings]
