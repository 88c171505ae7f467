"""The HTML report's pictures, drawn as inline SVG: the latency histogram, cost per tag, and the nightly trend
with the nights a served model or fingerprint changed."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.results import percentile
from ..core.wording import counted
from .summary import RunSummary
from .terminal import tag_cost_text


def escaped(value: Any) -> str:
    return html.escape("" if value is None else str(value))


_e = escaped


def histogram(latencies: Sequence[float], width: int = 560, height: int = 160, bins: int = 12) -> str:
    if not latencies:
        return "<p>No live calls were timed (cached and replayed calls are not).</p>"
    low, high = min(latencies), max(latencies)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in latencies:
        counts[min(int((value - low) / step), bins - 1)] += 1
    bar_width, top = (width - 40) / bins, max(counts)
    bars = []
    for index, count in enumerate(counts):
        bar_height = (height - 40) * count / top
        x, y = 30 + index * bar_width, height - 20 - bar_height
        start = low + index * step
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width - 2:.1f}" height="{bar_height:.1f}" fill="#0969da">'
            f"<title>{start:,.0f}–{start + step:,.0f} ms: {counted(count, 'call')}</title></rect>"
        )
    labels = (
        f'<text x="30" y="{height - 5}">{low:,.0f} ms</text>'
        f'<text x="{width - 10}" y="{height - 5}" text-anchor="end">{high:,.0f} ms</text>'
        f'<text x="2" y="14">{counted(top, "call")}</text>'
    )
    title = (
        f"latency of {len(latencies)} live calls, p50 {percentile(latencies, 50):,.0f} ms, "
        f"p95 {percentile(latencies, 95):,.0f} ms"
    )
    svg = f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}">'
    return f"{svg}<title>{_e(title)}</title>{''.join(bars)}{labels}</svg>"


def cost_bars(summary: RunSummary, width: int = 560) -> str:
    rows = summary.cost_by_tag
    if not rows:
        return "<p>No calls.</p>"
    replayed = not any(r.calls for r in rows)  # a replay: the bars show what the goldens recorded
    spent = [r.recorded_cost_usd if replayed else r.cost_usd for r in rows]
    top = max(spent) or 1.0
    height = 22 * len(rows) + 8
    bars = []
    for index, row in enumerate(rows):
        y = 4 + index * 22
        length = (width - 260) * spent[index] / top
        label = f"{tag_cost_text(row)} ({counted(row.calls or row.recorded_calls, 'call')})"
        bars.append(
            f'<text x="0" y="{y + 14}">{_e(row.tag)}</text>'
            f'<rect x="120" y="{y}" width="{length:.1f}" height="16" fill="#8250df"><title>{_e(label)}</title></rect>'
            f'<text x="{126 + length:.1f}" y="{y + 13}">{_e(label)}</text>'
        )
    return f'<svg role="img" aria-label="cost per tag" width="{width}" height="{height}">{"".join(bars)}</svg>'


@dataclass(frozen=True)
class ModelChange:
    """A suite and model answered by another served model or fingerprint than in its previous run."""

    run: int  # index of the history row where the change was first seen
    time: str
    group: str  # "suite[model]"
    what: str  # "served model" | "fingerprint"
    before: tuple[str, ...]
    after: tuple[str, ...]
    drifted: int  # cases of that suite and model that drifted in that run

    def sentence(self) -> str:
        drift = (
            "no case drifted"
            if not self.drifted
            else (f"{self.drifted} case{'s' if self.drifted != 1 else ''} drifted the same day")
        )
        return (
            f"{self.group}: {self.what} changed on {self.time[:10] or '?'} "
            f"({', '.join(self.before)} → {', '.join(self.after)}); {drift}"
        )


def _drifted(group: dict[str, Any]) -> int:
    """A history group's drifted cases: its count, or its verdicts' count when that is larger (older rows
    counted golden drift only)."""
    counts = [group.get("drifted"), (group.get("verdicts") or {}).get("drifted")]
    return max((c for c in counts if isinstance(c, int) and not isinstance(c, bool)), default=0)


def history_changes(history: Sequence[dict[str, Any]]) -> list[ModelChange]:
    """Every change of served model or fingerprint between consecutive runs of the same suite and model.

    Replayed runs are passed over (their calls carry the golden's model, not today's), and so is a group with
    no answers (an outage says nothing about which model serves), so neither can fake a change."""
    last: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
    changes = []
    for index, row in enumerate(history):
        if row.get("mode") == "replay":
            continue
        for group in row.get("groups") or []:
            key = (str(group.get("suite")), str(group.get("model")))
            before = last.setdefault(key, {})
            for what, name in (("served model", "served"), ("fingerprint", "fingerprints")):
                now = tuple(group.get(name) or ())
                if not now:
                    continue
                if before.get(what) and before[what] != now:
                    time = str(row.get("time") or "")
                    changes.append(
                        ModelChange(index, time, f"{key[0]}[{key[1]}]", what, before[what], now, _drifted(group))
                    )
                before[what] = now
    return changes


def _change_marks(changes: Sequence[ModelChange], x_of: Callable[[int], float], width: int, height: int) -> list[str]:
    """One marker per run with changes: a dashed line, a triangle and the numbers of its sentences below
    (written left of the line near the right edge, so they are never cut off)."""
    by_run: dict[int, list[int]] = {}
    for n, change in enumerate(changes, 1):
        by_run.setdefault(change.run, []).append(n)
    marks = []
    for run, numbers in by_run.items():
        x = x_of(run)
        told = "; ".join(changes[n - 1].sentence() for n in numbers)
        marks.append(
            f'<g class="change"><title>{_e(told)}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="10" y2="{height - 20}" stroke="#9a6700" stroke-dasharray="4 3"/>'
            f'<path d="M{x - 5:.1f},2 L{x + 5:.1f},2 L{x:.1f},10 Z" fill="#9a6700"/>'
            f'<text x="{x - 7 if x > width - 40 else x + 7:.1f}" y="10" '
            f'text-anchor="{"end" if x > width - 40 else "start"}"'
            f' style="fill:#9a6700">{_e(",".join(map(str, numbers)))}</text></g>'
        )
    return marks


def trend(history: Sequence[dict[str, Any]], width: int = 560, height: int = 150) -> str:
    """Pass rate over the runs of the history file, a numbered marker where a suite and model was served by
    another model or fingerprint than in its previous run, and under the chart what changed and whether
    cases drifted that day: a fingerprint change with no drift is news, one with drift is the likely cause."""
    points = []
    for row in history:
        groups = row["groups"]
        judged = sum(g.get("cases") or 0 for g in groups)
        passed = sum((g.get("pass_rate") or 0) * (g.get("cases") or 0) for g in groups)
        points.append((row.get("time", ""), passed / judged if judged else None))
    if len(points) < 2:
        return "<p>Not enough runs in the history file yet to draw a trend.</p>"
    step = (width - 40) / (len(points) - 1)
    changes = history_changes(history)
    marks = _change_marks(changes, lambda index: 30 + index * step, width, height)
    coords = []
    for index, (time, rate) in enumerate(points):
        x = 30 + index * step
        if rate is not None:
            y = 10 + (height - 30) * (1 - rate)
            coords.append(f"{x:.1f},{y:.1f}")
            marks.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1a7f37">'
                f"<title>{_e(time)}: {rate:.0%} passed</title></circle>"
            )
    labels = (
        f'<text x="30" y="{height - 5}">{_e(points[0][0][:10])}</text>'
        f'<text x="{width - 10}" y="{height - 5}" text-anchor="end">{_e(points[-1][0][:10])}</text>'
        '<text x="0" y="14">100%</text>'
    )
    line = f'<polyline fill="none" stroke="#1a7f37" stroke-width="2" points="{" ".join(coords)}"/>'
    svg = f'<svg role="img" aria-label="pass rate trend over {len(points)} runs" width="{width}" height="{height}">'
    chart = f"{svg}{line}{''.join(marks)}{labels}</svg>"
    told = "".join(f"<li>{_e(change.sentence())}</li>" for change in changes)
    return chart + (f'<ol class="changes">{told}</ol>' if told else "")
