"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network) a person can read.

Failures come first, each with the reason and a side-by-side golden → output diff; then the suites, a
latency histogram, cost per tag, the trend from the history file when there is one, and every case.
"""

from __future__ import annotations

import difflib
import html
from typing import Any, Sequence

from ..results import CaseResult, percentile
from .markdown import failure_reasons
from .summary import Figures, RunSummary, timed
from .terminal import cost_text, money, number
from .upgrade import upgrade_lines

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.meta{color:#59636e;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:10px 14px;min-width:96px}
.card b{display:block;font-size:20px}.card span{color:#59636e;font-size:12px}
.bad b{color:#cf222e}.good b{color:#1a7f37}.warn b{color:#9a6700}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border:1px solid #d1d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.failure{background:#fff;border:1px solid #d1d9e0;border-left:4px solid #cf222e;border-radius:6px;padding:10px 14px;margin:12px 0}
.failure h3{font-size:14px;margin:0 0 6px;font-family:ui-monospace,monospace}
.reason{color:#cf222e;margin:2px 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:8px;border-radius:4px;margin:6px 0;font-size:12px}
table.diff{font-family:ui-monospace,monospace;font-size:12px;table-layout:fixed;margin:6px 0}
table.diff td{white-space:pre-wrap;word-break:break-word;width:50%}
td.del{background:#ffebe9}td.add{background:#dafbe1}td.gap{background:#f6f8fa}
td.del mark{background:#ffcecb}td.add mark{background:#aceebb}
.outcome-passed{color:#1a7f37}.outcome-failed,.outcome-error{color:#cf222e}.outcome-skipped{color:#59636e}
svg text{font:11px system-ui,sans-serif;fill:#59636e}
details summary{cursor:pointer;color:#0969da}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))



def _card(label: str, value: str, tone: str = "") -> str:
    return f'<div class="card {tone}"><b>{_e(value)}</b><span>{_e(label)}</span></div>'


def _headline(summary: RunSummary) -> str:
    t = summary.totals
    cards = [
        _card("cases", str(t.cases)),
        _card("passed", str(t.passed), "good"),
        _card("failed", str(t.failed), "bad" if t.failed else ""),
        _card("drifted", str(t.drifted), "bad" if t.drifted else ""),
        _card("errors", str(t.errors), "bad" if t.errors else ""),
        _card("latency p50", f"{number(t.latency_p50_ms)} ms"),
        _card("latency p95", f"{number(t.latency_p95_ms)} ms"),
        _card("tokens in / out", f"{t.tokens_in:,} / {t.tokens_out:,}"),
        _card("cost", cost_text(t), "warn" if t.unpriced_calls else ""),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _marked(old: str, new: str) -> tuple[str, str]:
    """Both lines escaped, with the words that differ wrapped in <mark>."""
    a, b = old.split(" "), new.split(" ")
    left, right = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        chunk_a, chunk_b = _e(" ".join(a[i1:i2])), _e(" ".join(b[j1:j2]))
        left.append(chunk_a if tag == "equal" or not chunk_a else f"<mark>{chunk_a}</mark>")
        right.append(chunk_b if tag == "equal" or not chunk_b else f"<mark>{chunk_b}</mark>")
    return " ".join(x for x in left if x), " ".join(x for x in right if x)


def _side_by_side(golden: str, now: str) -> str:
    """A two-column diff, golden on the left and today's output on the right, changed words marked."""
    a, b = golden.splitlines() or [""], now.splitlines() or [""]
    rows = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [f"<tr><td>{_e(line)}</td><td>{_e(line)}</td></tr>" for line in a[i1:i2]]
            continue
        olds, news = a[i1:i2], b[j1:j2]
        for index in range(max(len(olds), len(news))):
            old = olds[index] if index < len(olds) else None
            new = news[index] if index < len(news) else None
            if old is not None and new is not None:
                left, right = _marked(old, new)
            else:
                left, right = _e(old), _e(new)
            rows.append(
                f'<tr><td class="{"del" if old is not None else "gap"}">{left}</td>'
                f'<td class="{"add" if new is not None else "gap"}">{right}</td></tr>'
            )
    return f'<table class="diff"><thead><tr><th>golden</th><th>now</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _failure(result: CaseResult) -> str:
    reasons = "".join(f'<div class="reason">✗ {_e(r)}</div>' for r in failure_reasons(result))
    first = result.calls[0] if result.calls else None
    golden_output = (result.golden or {}).get("output")
    if first is not None and golden_output is not None:
        body = _side_by_side(golden_output, first.text)
    elif first is not None and first.error is None:
        body = f"<div>output</div><pre>{_e(first.text)}</pre>"
    else:
        body = ""
    prompt = "".join(f"<pre>[{_e(m['role'])}] {_e(m['content'])}</pre>" for m in result.messages)
    return (
        f'<div class="failure"><h3>{_e(result.path)}::{_e(result.case)}[{_e(result.model)}] — {_e(result.outcome)}</h3>'
        f"{reasons}{body}<details><summary>prompt</summary>{prompt}</details></div>"
    )


def _groups_table(summary: RunSummary) -> str:
    head = "".join(f"<th>{h}</th>" for h in (
        "suite", "model", "cases", "pass", "fail", "drift", "errors", "p50 ms", "p95 ms", "tokens in", "tokens out",
        "cost", "similarity",
    ))

    def row(f: Figures) -> str:
        cells = [
            f"<td>{_e(f.suite)}</td><td>{_e(f.model)}</td>",
            *(f'<td class="n">{v}</td>' for v in (f.cases, f.passed, f.failed, f.drifted, f.errors)),
            f'<td class="n">{number(f.latency_p50_ms)}</td><td class="n">{number(f.latency_p95_ms)}</td>',
            f'<td class="n">{f.tokens_in:,}</td><td class="n">{f.tokens_out:,}</td>',
            f'<td class="n">{_e(cost_text(f))}</td>',
            f'<td class="n">{"-" if f.mean_similarity is None else f"{f.mean_similarity:g}"}</td>',
        ]
        return f"<tr>{''.join(cells)}</tr>"

    rows = [row(g) for g in summary.groups] + ([row(summary.totals)] if len(summary.groups) > 1 else [])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _histogram(latencies: Sequence[float], width: int = 560, height: int = 160, bins: int = 12) -> str:
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
            f"<title>{start:,.0f}–{start + step:,.0f} ms: {count} calls</title></rect>"
        )
    labels = (
        f'<text x="30" y="{height - 5}">{low:,.0f} ms</text>'
        f'<text x="{width - 10}" y="{height - 5}" text-anchor="end">{high:,.0f} ms</text>'
        f'<text x="2" y="14">{top} calls</text>'
    )
    title = f"latency of {len(latencies)} live calls, p50 {percentile(latencies, 50):,.0f} ms, p95 {percentile(latencies, 95):,.0f} ms"
    return f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}"><title>{_e(title)}</title>{"".join(bars)}{labels}</svg>'


def _cost_bars(summary: RunSummary, width: int = 560) -> str:
    rows = summary.cost_by_tag
    if not rows:
        return "<p>No calls.</p>"
    top = max(r.cost_usd for r in rows) or 1.0
    height = 22 * len(rows) + 8
    bars = []
    for index, row in enumerate(rows):
        y = 4 + index * 22
        length = (width - 260) * row.cost_usd / top
        label = f"{money(row.cost_usd, row.unpriced_calls, row.calls)} ({row.calls} calls)"
        bars.append(
            f'<text x="0" y="{y + 14}">{_e(row.tag)}</text>'
            f'<rect x="120" y="{y}" width="{length:.1f}" height="16" fill="#8250df"><title>{_e(label)}</title></rect>'
            f'<text x="{126 + length:.1f}" y="{y + 13}">{_e(label)}</text>'
        )
    return f'<svg role="img" aria-label="cost per tag" width="{width}" height="{height}">{"".join(bars)}</svg>'


def _trend(history: Sequence[dict[str, Any]], width: int = 560, height: int = 150) -> str:
    """Pass rate over the runs of the history file; a dashed line where the served model or fingerprint changed."""
    points = []
    previous = None
    for row in history:
        groups = row["groups"]
        judged = sum(g.get("cases") or 0 for g in groups)
        passed = sum((g.get("pass_rate") or 0) * (g.get("cases") or 0) for g in groups)
        served = sorted({s for g in groups for s in (g.get("served") or []) + (g.get("fingerprints") or [])})
        points.append((row.get("time", ""), passed / judged if judged else None, previous is not None and served != previous))
        previous = served
    if len(points) < 2:
        return "<p>Not enough runs in the history file yet to draw a trend.</p>"
    step = (width - 40) / (len(points) - 1)
    marks, coords = [], []
    for index, (time, rate, changed) in enumerate(points):
        x = 30 + index * step
        if changed:
            marks.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="10" y2="{height - 20}" stroke="#9a6700" stroke-dasharray="4 3"><title>served model or fingerprint changed at {_e(time)}</title></line>')
        if rate is not None:
            y = 10 + (height - 30) * (1 - rate)
            coords.append(f"{x:.1f},{y:.1f}")
            marks.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1a7f37"><title>{_e(time)}: {rate:.0%} passed</title></circle>')
    labels = (
        f'<text x="30" y="{height - 5}">{_e(points[0][0][:10])}</text>'
        f'<text x="{width - 10}" y="{height - 5}" text-anchor="end">{_e(points[-1][0][:10])}</text>'
        '<text x="0" y="14">100%</text>'
    )
    line = f'<polyline fill="none" stroke="#1a7f37" stroke-width="2" points="{" ".join(coords)}"/>'
    return f'<svg role="img" aria-label="pass rate trend over {len(points)} runs" width="{width}" height="{height}">{line}{"".join(marks)}{labels}</svg>'


def _cases_table(results: Sequence[CaseResult]) -> str:
    rows = []
    for r in results:
        calls = [c for c in r.calls if c.error is None]
        latencies = timed(r.calls)
        similarity = (r.golden or {}).get("similarity")
        cost = [c.cost_usd for c in calls]
        rows.append(
            f"<tr><td>{_e(r.suite)}</td><td>{_e(r.case)}</td><td>{_e(r.model)}</td>"
            f'<td class="outcome-{_e(r.outcome)}">{_e(r.outcome)}</td>'
            f'<td class="n">{"-" if similarity is None else f"{similarity:g}"}</td>'
            f'<td class="n">{number(percentile(latencies, 50))}</td>'
            f'<td class="n">{sum(c.tokens_out or 0 for c in calls):,}</td>'
            f'<td class="n">{_e(money(sum(c for c in cost if c is not None), sum(c is None for c in cost), len(cost)))}</td>'
            f"<td>{_e(', '.join(sorted({c.model_served for c in calls if c.model_served})))}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("suite", "case", "model", "outcome", "similarity", "p50 ms", "tokens out", "cost", "served by"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def html_report(
    summary: RunSummary, results: Sequence[CaseResult], created_at: str, git_commit: str | None,
    history: Sequence[dict[str, Any]] = (),
) -> str:
    failing = [r for r in results if r.outcome in ("failed", "error")]
    t = summary.totals
    status = "all passed" if not failing else f"{len(failing)} failing"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>promptguard: {_e(status)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>promptguard report: {_e(status)}</h1>",
        f'<div class="meta">{_e(created_at)}{" · commit " + _e(git_commit[:12]) if git_commit else ""} · {t.cases} cases</div>',
        _headline(summary),
    ]
    if failing:
        parts.append(f"<h2>Failures ({len(failing)})</h2>")
        parts += [_failure(r) for r in failing]
    notes = [f"error: {e}" for e in summary.goldens.errors] + summary.warnings
    if notes:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    for upgrade in summary.upgrades:
        parts.append(f"<h2>Upgrade {_e(upgrade.model)} → {_e(upgrade.candidate)}</h2><pre>{_e(chr(10).join(upgrade_lines(upgrade)))}</pre>")
    parts += [
        "<h2>Suites</h2>", _groups_table(summary),
        "<h2>Latency</h2>", _histogram([lat for r in results for lat in timed(r.calls)]),
        "<h2>Cost per tag</h2>", _cost_bars(summary),
    ]
    if history:
        parts += ["<h2>Trend</h2>", _trend(history)]
    if summary.slowest:
        parts.append("<h2>Slowest calls</h2><ol>" + "".join(
            f"<li>{s.latency_ms:,.0f} ms — {_e(s.suite)}::{_e(s.case)}[{_e(s.model)}]</li>" for s in summary.slowest
        ) + "</ol>")
    parts += [f"<h2>All cases ({len(results)})</h2>", _cases_table(results), "</main></body></html>"]
    return "\n".join(parts)
