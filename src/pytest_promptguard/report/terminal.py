"""The `promptguard` section of pytest's terminal summary: at most 100 columns, no colour."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from ..core.wording import counted, usd
from .summary import Figures, RunSummary, TagCost, VerdictSummary
from .upgrade import upgrade_lines

WIDTH = 100
COLUMNS = (  # header, width
    ("suite", 17),
    ("model", 12),
    ("cases", 5),
    ("pass", 5),
    ("fail", 5),
    ("drift", 5),
    ("err", 3),
    ("p50 ms", 6),
    ("p95 ms", 6),
    ("tok in", 7),
    ("tok out", 7),
    ("cost", 11),
)
RECORDED = "*"  # marks a replayed call's figure: as its golden recorded it, not measured in this run


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def number(value: float | None) -> str:
    """A figure without decimals, or "-" when there is none."""
    return "-" if value is None else f"{value:,.0f}"


def money(cost_usd: float, unpriced_calls: int, calls: int) -> str:
    """A total cost; '+?' marks one that leaves out calls of unknown price, '?' one of no known price at all
    (unknown is never counted as 0)."""
    if unpriced_calls and unpriced_calls >= calls:
        return "?"
    return usd(cost_usd) + ("+?" if unpriced_calls else "")


def cost_text(figures: Figures) -> str:
    """What this run's calls cost; for a run that only replayed, what the goldens recorded, marked `*`."""
    now = figures.calls - figures.errors - figures.recorded_calls
    if now > 0 or not figures.recorded_calls:
        return money(figures.cost_usd, figures.unpriced_calls, now)
    return money(figures.recorded_cost_usd, figures.recorded_unpriced_calls, figures.recorded_calls) + RECORDED


def latency_text(figures: Figures, percentile: int) -> str:
    """The p50 or p95 latency of this run's timed calls; without any, the goldens' recorded one, marked `*`."""
    measured = getattr(figures, f"latency_p{percentile}_ms")
    if measured is not None or figures.timed_calls:
        return number(measured)
    recorded = getattr(figures, f"recorded_latency_p{percentile}_ms")
    return "-" if recorded is None else number(recorded) + RECORDED


def tag_cost_text(tag: TagCost) -> str:
    if tag.calls or not tag.recorded_calls:
        return money(tag.cost_usd, tag.unpriced_calls, tag.calls)
    return money(tag.recorded_cost_usd, tag.recorded_unpriced_calls, tag.recorded_calls) + RECORDED


def recorded_line(summary: RunSummary) -> str | None:
    """The footnote of the `*` figures, when the run replayed calls."""
    count = summary.totals.recorded_calls
    if not count:
        return None
    return (
        f"{RECORDED} recorded: {counted(count, 'call')} replayed from goldens; latency and cost marked {RECORDED} are "
        "as the goldens recorded them, not measured in this run"
    )


def figure_cells(f: Figures) -> tuple[object, ...]:
    """A row of the summary table (terminal and Markdown alike), in COLUMNS' order."""
    return (
        f.suite,
        f.model,
        f.cases,
        f.passed,
        f.failed,
        f.drifted,
        f.errors,
        latency_text(f, 50),
        latency_text(f, 95),
        f"{f.tokens_in:,}",
        f"{f.tokens_out:,}",
        cost_text(f),
    )


def _row(f: Figures) -> str:
    parts = []
    for (name, width), cell in zip(COLUMNS, figure_cells(f)):
        text = _fit(str(cell), width)
        parts.append(text.ljust(width) if name in ("suite", "model") else text.rjust(width))
    return " ".join(parts)


def totals_line(summary: RunSummary) -> str:
    """One line for `-q`: the counts that are not zero, latency, tokens and cost."""
    t = summary.totals
    named = ((t.failed, "failed"), (t.drifted, "drifted"), (t.verdicts.get("flaky", 0), "flaky"), (t.errors, "errors"))
    counts = ", ".join(f"{count} {label}" for count, label in named if count)
    figures = (
        f"p50 {latency_text(t, 50)} ms, p95 {latency_text(t, 95)} ms; "
        f"tokens {t.tokens_in:,} in, {t.tokens_out:,} out; cost {cost_text(t)}"
    )
    return (
        f"promptguard: {counted(t.cases, 'case')}, {t.passed} passed{', ' + counts if counts else ''}; {figures}"
        + "".join(f"; {part}" for part in check_costs(t))
        + (f" ({RECORDED} as the goldens recorded them)" if RECORDED in figures else "")
    )


def check_costs(figures: Figures) -> list[str]:
    """`judge cost $0.0012 (3 grader calls)` and `embedding cost ...`: the checks' own calls, apart from the models'."""
    parts = []
    if figures.judge_calls:
        parts.append(
            f"judge cost {money(figures.judge_cost_usd, figures.judge_unpriced_calls, figures.judge_calls)} "
            f"({counted(figures.judge_calls, 'grader call')})"
        )
    if figures.embedding_calls:
        parts.append(
            "embedding cost "
            f"{money(figures.embedding_cost_usd, figures.embedding_unpriced_calls, figures.embedding_calls)} "
            f"({counted(figures.embedding_calls, 'embedding call')})"
        )
    return parts


def price_line(summary: RunSummary) -> str | None:
    """`prices: genai-prices 0.2.3 snapshot 2026-12-03 (40 calls); unknown (2 calls)`: what priced the run's calls."""
    if not summary.price_sources:
        return None
    parts = [f"{source} ({counted(count, 'call')})" for source, count in summary.price_sources.items()]
    return "prices: " + "; ".join(parts)


def percent(share: float) -> str:
    """A share as a percentage without float noise: 0.01 → "1%", 0.001 → "0.1%"."""
    return f"{share * 100:g}%"


def suite_verdict_lines(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence about the suites' pooled verdicts: how many were tested, and each that drifted."""
    if not verdicts:
        return []
    drifted = [v for v in verdicts if v["fails"]]
    alpha = verdicts[0]["alpha"]
    tested = f"{len(verdicts)} suite × model{'s' if len(verdicts) != 1 else ''} pooled (FDR {percent(alpha)})"
    if not drifted:
        return [f"suite verdicts: {tested}: none drifted"]
    named = "; ".join(
        f"{v['suite']}[{v['model']}]" + (f" (most: {', '.join(v['leading'])})" if v.get("leading") else "")
        for v in drifted
    )
    return [f"suite verdicts: {tested}: {len(drifted)} drifted: {named}"]


def verdict_sentences(summary: RunSummary) -> list[str]:
    """Every sentence about the verdicts: the cases', then the suites' pooled ones."""
    return verdict_lines(summary.verdicts) + suite_verdict_lines(summary.suite_verdicts)


def verdict_lines(verdicts: VerdictSummary | None) -> list[str]:
    """The sentences every report prints about the statistical verdicts; none when no case had one, so a
    run without them reads exactly as before."""
    if verdicts is None:
        return []
    cases = "case" if verdicts.tested == 1 else "cases"
    fdr = f" (FDR {percent(verdicts.alpha)})" if verdicts.alpha is not None else ""
    counts = ", ".join(f"{count} {name}" for name, count in verdicts.counts.items())
    lines = [f"verdicts: {verdicts.tested} {cases} tested{fdr}: {counts}"]
    if verdicts.calls_if_fixed is not None:
        repeat = verdicts.fixed_repeat if verdicts.fixed_repeat is not None else "max"
        lines.append(
            f"repeat: auto made {verdicts.auto_calls:,} calls where a fixed repeat: {repeat} "
            f"would have made {verdicts.calls_if_fixed:,}"
        )
    return lines


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False) or [""]


def summary_lines(summary: RunSummary, quiet: bool = False) -> list[str]:
    """The section's lines; `quiet` (pytest -q) keeps only the totals line."""
    if quiet:
        return _wrapped(totals_line(summary)) + (_wrapped(summary.outage.line()) if summary.outage else [])
    header = " ".join(name.ljust(w) if name in ("suite", "model") else name.rjust(w) for name, w in COLUMNS)
    lines = [header] + [_row(group) for group in summary.groups]
    if len(summary.groups) > 1:
        lines.append(_row(summary.totals))
    if summary.outage is not None:
        lines += _wrapped(summary.outage.line())
    if (recorded := recorded_line(summary)) is not None:
        lines += _wrapped(recorded)
    for line in verdict_sentences(summary):
        lines += _wrapped(line)
    if (prices := price_line(summary)) is not None:
        lines += _wrapped(prices)
    if check_costs(summary.totals):
        lines += _wrapped(f"checks' own calls (not in the cost above): {'; '.join(check_costs(summary.totals))}")
    if summary.cost_by_tag and any(t.tag != "(untagged)" for t in summary.cost_by_tag):
        tags = ", ".join(
            f"{t.tag} {tag_cost_text(t)} ({counted(t.calls or t.recorded_calls, 'call')})" for t in summary.cost_by_tag
        )
        lines += _wrapped(f"cost by tag: {tags}")
    if summary.slowest:
        lines.append("slowest calls:")
        lines += [_fit(f"  {s.latency_ms:>8,.0f} ms  {s.suite}::{s.case}[{s.model}]", WIDTH) for s in summary.slowest]
    goldens = summary.goldens
    counts = goldens.counts
    if counts.added or counts.updated or counts.removed or counts.unchanged:
        written = f" (written: {', '.join(goldens.written)})" if goldens.written else ""
        lines += _wrapped(
            f"goldens: {counts.added} added, {counts.updated} updated, {counts.removed} removed, "
            f"{counts.unchanged} unchanged{written}"
        )
    for upgrade in summary.upgrades:
        for line in upgrade_lines(upgrade):
            lines += [_fit(line, WIDTH)]
    for error in goldens.errors:
        lines += _wrapped(f"error: {error}")
    for warning in summary.warnings:
        lines += _wrapped(f"warning: {warning}")
    return lines
