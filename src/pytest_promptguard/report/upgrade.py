"""The upgrade report: a candidate model judged against the current model's goldens, case by case."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from ..core.results import CaseResult, percentile
from ..core.wording import counted

VERDICT_ORDER = ("broken", "error", "fixed", "changed", "same")
MAX_CASE_ROWS = 20


@dataclass
class CaseVerdict:
    case: str  # "suite::case"
    similarity: float | None  # of the candidate's output to the golden, 0-100
    before: bool | None  # the golden output passes today's checks
    after: bool  # the candidate's output passes them
    verdict: str  # same | changed | fixed | broken | error


@dataclass
class UpgradeReport:
    model: str
    candidate: str
    cases: list[CaseVerdict] = field(default_factory=list)
    latency_p50_ms: tuple[float | None, float | None] = (None, None)  # (golden, candidate)
    latency_p95_ms: tuple[float | None, float | None] = (None, None)
    tokens_out: tuple[float | None, float | None] = (None, None)  # per call
    cost_usd: tuple[float | None, float | None] = (None, None)  # per call

    @property
    def broken(self) -> list[CaseVerdict]:
        return [c for c in self.cases if c.verdict in ("broken", "error")]

    @property
    def fixed(self) -> list[CaseVerdict]:
        return [c for c in self.cases if c.verdict == "fixed"]

    @property
    def verdict(self) -> str:
        return "regressions" if self.broken else "no regressions"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data


def _checks_passed(result: CaseResult) -> bool:
    """Today's checks on the candidate, golden drift aside (wording may move; behaviour may not)."""
    return (
        result.outcome != "error"
        and all(r.passed for sample in result.checks for r in sample if r.name != "golden")
        and all(r.passed for r in result.case_checks if r.name != "model_change")
    )


def _verdict(before: bool | None, after: bool, similarity: float | None, minimum: float, outcome: str) -> str:
    if outcome == "error":
        return "error"
    if before is True and not after:
        return "broken"
    if before is False and after:
        return "fixed"
    return "same" if similarity is not None and similarity >= minimum else "changed"


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def upgrade_reports(results: Sequence[CaseResult]) -> list[UpgradeReport]:
    groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for result in results:
        if result.baseline_model:
            groups[(result.baseline_model, result.model)].append(result)
    reports = []
    for (model, candidate), group in sorted(groups.items()):
        report = UpgradeReport(model, candidate)
        golden_latencies: list[float] = []
        now_latencies: list[float] = []
        for result in group:
            golden = result.golden or {}
            similarity = golden.get("similarity")
            after = _checks_passed(result)
            report.cases.append(
                CaseVerdict(
                    f"{result.suite}::{result.case}",
                    similarity,
                    golden.get("passed"),
                    after,
                    _verdict(
                        golden.get("passed"), after, similarity, golden.get("min_similarity", 90.0), result.outcome
                    ),
                )
            )
            golden_latencies += golden.get("latencies_ms") or []
            now_latencies += [c.latency_ms for c in result.calls if c.timed]
        calls = [c for r in group for c in r.calls if c.error is None]
        report.latency_p50_ms = (percentile(golden_latencies, 50), percentile(now_latencies, 50))
        report.latency_p95_ms = (percentile(golden_latencies, 95), percentile(now_latencies, 95))
        report.tokens_out = (
            _mean([(r.golden or {}).get("tokens_out") for r in group]),
            _mean([c.tokens_out for c in calls]),
        )
        report.cost_usd = (_mean([(r.golden or {}).get("cost_usd") for r in group]), _mean([c.cost_usd for c in calls]))
        reports.append(report)
    return reports


def _delta(pair: tuple[float | None, float | None], unit: str = "", digits: int = 0) -> str:
    then, now = pair
    if then is None or now is None:
        return "?"
    change = f" ({now / then - 1:+.0%})" if then else ""
    return f"{unit}{then:,.{digits}f} → {unit}{now:,.{digits}f}{change}"


def upgrade_lines(report: UpgradeReport) -> list[str]:
    total = len(report.cases)
    headline = f"upgrade {report.model} → {report.candidate}: "
    if report.broken:
        broken = len(report.broken)
        headline += f"REGRESSIONS: {broken} of {total} cases pass with {report.model} and not with {report.candidate}"
    else:
        headline += f"no regressions in {counted(total, 'case')} ({len(report.fixed)} fixed)"
    similarities = [c.similarity for c in report.cases if c.similarity is not None]
    lines = [headline]
    for label, cases in (("pass → fail", report.broken), ("fail → pass", report.fixed)):
        if cases:
            lines.append(
                f"  {label}: "
                + ", ".join(c.case for c in cases[:8])
                + (f" (+{len(cases) - 8} more)" if len(cases) > 8 else "")
            )
    if similarities:
        lowest = min(report.cases, key=lambda c: c.similarity if c.similarity is not None else 101)
        lines.append(
            f"  similarity to the goldens: mean {fmean(similarities):.1f}, lowest {lowest.similarity:g} ({lowest.case})"
        )
    # Two lines, not one: the reports cut lines at 100 columns, and the cost figure came last.
    lines.append(f"  latency p50 {_delta(report.latency_p50_ms)} ms, p95 {_delta(report.latency_p95_ms)} ms")
    lines.append(
        f"  tokens out/call {_delta(report.tokens_out, digits=1)}; cost/call {_delta(report.cost_usd, '$', 6)}"
    )
    # Every case, worst verdict first (suite order within one), so the rows that decide an upgrade always show.
    ordered = sorted(report.cases, key=lambda c: VERDICT_ORDER.index(c.verdict))
    state = {True: "pass", False: "fail", None: "?"}
    for case in ordered[:MAX_CASE_ROWS]:
        sim = "-" if case.similarity is None else f"{case.similarity:g}"
        lines.append(
            f"    {case.verdict:<8} {case.case:<48} similarity {sim:>5}  {state[case.before]} → {state[case.after]}"
        )
    if len(ordered) > MAX_CASE_ROWS:
        lines.append(f"    (+{len(ordered) - MAX_CASE_ROWS} more cases)")
    return lines
