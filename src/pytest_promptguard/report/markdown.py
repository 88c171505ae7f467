"""The Markdown summary for CI pages (`$GITHUB_STEP_SUMMARY`, or `--promptguard-md PATH`)."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.results import CaseResult
from .summary import Figures, RunSummary, verdict_name
from .terminal import (
    check_costs,
    cost_text,
    figure_cells,
    latency_text,
    price_line,
    recorded_line,
    tag_cost_text,
    verdict_sentences,
)
from .upgrade import upgrade_lines

MAX_FAILURES = 30
NOTEWORTHY = ("drifted", "flaky", "inconclusive", "improved")  # non-stable verdicts, the most urgent first


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(f: Figures) -> str:
    cells = figure_cells(f)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def failure_reasons(result: CaseResult) -> list[str]:
    """Why a case did not pass, one short line each: failed checks, or the call's error."""
    errors = [c.error for c in result.calls if c.error]
    if errors:
        return [f"error: {errors[0].kind}: {errors[0].message}"]
    reasons = dict.fromkeys(f"{r.name}: {r.reason}" for sample in result.checks for r in sample if not r.passed)
    reasons.update(dict.fromkeys(f"{r.name}: {r.reason}" for r in result.case_checks if not r.passed))
    if not reasons and result.pass_rate is not None and result.pass_rate < result.min_pass_rate:
        reasons[f"pass rate {result.pass_rate:.0%} < min_pass_rate {result.min_pass_rate:.0%}"] = None
    return list(reasons)


def noteworthy(results: Sequence[CaseResult]) -> list[CaseResult]:
    """The cases whose verdict is not "stable", the most urgent first (drift before flakiness), run order within."""
    rank = {name: index for index, name in enumerate(NOTEWORTHY)}
    judged = [r for r in results if verdict_name(r) not in (None, "stable")]
    return sorted(judged, key=lambda r: rank.get(verdict_name(r) or "", len(NOTEWORTHY)))


def first_reason(result: CaseResult) -> str:
    reasons = (result.verdict or {}).get("reasons") or []
    return str(reasons[0]) if reasons else "-"


def _verdicts(summary: RunSummary, results: Sequence[CaseResult]) -> list[str]:
    """The verdict sentences, each its own paragraph, and a table of the cases that are not stable."""
    sentences = verdict_sentences(summary)
    if not sentences:
        return []
    lines = ["", "### Verdicts"]
    for sentence in sentences:
        lines += ["", sentence]
    cases = noteworthy(results)
    if cases:
        lines += ["", "| suite | case | model | verdict | reason |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {_cell(r.suite)} | {_cell(r.case)} | {_cell(r.model)} | {_cell(verdict_name(r))} | "
            f"{_cell(first_reason(r))} |"
            for r in cases[:MAX_FAILURES]
        ]
        if len(cases) > MAX_FAILURES:
            lines.append(f"\n… and {len(cases) - MAX_FAILURES} more")
    return lines


def markdown(summary: RunSummary, results: Sequence[CaseResult]) -> str:
    t = summary.totals
    icon = "✅" if not (t.failed or t.errors) else "❌"
    lines = [
        f"## {icon} promptguard: {t.passed}/{t.cases} passed, {t.failed} failed, {t.drifted} drifted, {t.errors} "
        "errors",
        "",
        f"Latency p50 {latency_text(t, 50)} ms, p95 {latency_text(t, 95)} ms · tokens {t.tokens_in:,} in, "
        f"{t.tokens_out:,} out · cost {cost_text(t)}" + "".join(f" · {part}" for part in check_costs(t)),
        "",
        "| suite | model | cases | pass | fail | drift | errors | p50 ms | p95 ms | tokens in | tokens out | cost |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[_row(g) for g in summary.groups],
    ]
    if len(summary.groups) > 1:
        lines.append(_row(summary.totals).replace("| total |", "| **total** |", 1))
    if summary.outage is not None:
        lines += ["", f"**{_cell(summary.outage.line())}**"]
    if (recorded := recorded_line(summary)) is not None:
        lines += ["", _cell(recorded).replace("*", "\\*")]
    if (prices := price_line(summary)) is not None:
        lines += ["", _cell(prices)]
    lines += _verdicts(summary, results)
    failing = [r for r in results if r.outcome in ("failed", "error")]
    if failing:
        lines += ["", f"### Failures ({len(failing)})", ""]
        for result in failing[:MAX_FAILURES]:
            reasons = "; ".join(failure_reasons(result)) or result.outcome
            lines.append(f"- `{result.path}::{result.case}[{result.model}]` ({result.outcome}): {_cell(reasons)}")
        if len(failing) > MAX_FAILURES:
            lines.append(f"- … and {len(failing) - MAX_FAILURES} more")
    if summary.cost_by_tag:
        lines += ["", "### Cost by tag", "", "| tag | calls | cost |", "| --- | ---: | ---: |"]
        lines += [
            f"| {_cell(t.tag)} | {t.calls or t.recorded_calls} | {tag_cost_text(t)} |" for t in summary.cost_by_tag
        ]
    if summary.slowest:
        lines += ["", "### Slowest calls", ""]
        lines += [f"- {s.latency_ms:,.0f} ms `{s.suite}::{s.case}[{s.model}]`" for s in summary.slowest]
    for upgrade in summary.upgrades:
        lines += ["", f"### Upgrade {upgrade.model} → {upgrade.candidate}", "", "```", *upgrade_lines(upgrade), "```"]
    notes = [f"error: {e}" for e in summary.goldens.errors] + summary.warnings
    if notes:
        lines += ["", "### Warnings", "", *[f"- {_cell(note)}" for note in notes]]
    return "\n".join(lines) + "\n"
