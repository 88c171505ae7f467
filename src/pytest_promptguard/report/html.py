"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network) a person can read.

Failures come first, each with the reason and a side-by-side golden → output diff; then the suites, a
latency histogram, cost per tag, the trend from the history file when there is one, and every case. Cases
judged statistically carry a verdict badge and, in their details, the reasons and the tests behind it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from ..core.results import CaseResult, percentile
from ..core.wording import counted
from .charts import cost_bars, histogram, trend
from .charts import escaped as _e
from .markdown import failure_reasons, first_reason, noteworthy
from .summary import VERDICTS, Figures, RunSummary, recorded_latencies, timed, verdict_name
from .terminal import (
    RECORDED,
    check_costs,
    cost_text,
    latency_text,
    money,
    number,
    percent,
    price_line,
    recorded_line,
    verdict_sentences,
)
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
.failure{background:#fff;border:1px solid #d1d9e0;border-left:4px solid #cf222e;border-radius:6px;
  padding:10px 14px;margin:12px 0}
.failure h3{font-size:14px;margin:0 0 6px;font-family:ui-monospace,monospace}
.reason{color:#cf222e;margin:2px 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:8px;border-radius:4px;margin:6px 0;
  font-size:12px}
table.diff{font-family:ui-monospace,monospace;font-size:12px;table-layout:fixed;margin:6px 0}
table.diff td{white-space:pre-wrap;word-break:break-word;width:50%}
td.del{background:#ffebe9}td.add{background:#dafbe1}td.gap{background:#f6f8fa}
td.del mark{background:#ffcecb}td.add mark{background:#aceebb}
.outcome-passed{color:#1a7f37}.outcome-failed,.outcome-error{color:#cf222e}.outcome-skipped{color:#59636e}
svg text{font:11px system-ui,sans-serif;fill:#59636e}
details summary{cursor:pointer;color:#0969da}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:11px;font-weight:600;color:#fff;
  background:#59636e}
.v-stable{background:#1a7f37}.v-drifted{background:#cf222e}.v-improved{background:#0969da}
.v-flaky{background:#9a6700}.v-inconclusive{background:#6e7781}
.verdicts{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:8px 14px;margin:12px 0}
.verdicts p{margin:4px 0}.verdicts ul{margin:4px 0;padding-left:20px}
.verdict{margin:6px 0}.verdict .vmeta{color:#59636e;font-size:12px}.verdict .vreason{margin:2px 0}
table.tests{width:auto;margin:6px 0}tr.significant td{font-weight:600}
ol.changes{margin:6px 0;padding-left:22px}
"""


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
        _card("latency p50", f"{latency_text(t, 50)} ms"),
        _card("latency p95", f"{latency_text(t, 95)} ms"),
        _card("tokens in / out", f"{t.tokens_in:,} / {t.tokens_out:,}"),
        _card("cost", cost_text(t), "warn" if t.unpriced_calls else ""),
        *[_card(part.split(" cost ")[0] + " cost", part.split(" cost ", 1)[1]) for part in check_costs(t)],
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _badge(verdict: Any) -> str:
    """A coloured pill naming the verdict; the colour class only ever comes from the known names."""
    tone = f"v-{verdict}" if verdict in VERDICTS else ""
    return f'<span class="badge {tone}">{_e(verdict)}</span>'


def _num(value: Any) -> str:
    """A measured figure, short: 94, 0.4, 1,204.5; anything that is not a number is shown as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else _e(value)
    return _e(f"{round(value, 2):,.10g}")


def _p(value: Any) -> str:
    """A p-value with two significant digits (0.002, 1.2e-05)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else _e(value)
    return _e(f"{value:.2g}")


def _interval(ci: Any) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f" [{_num(ci[0])}, {_num(ci[1])}]"
    return ""


def _verdict_meta(verdict: dict[str, Any]) -> str:
    """One line of context: how sure and on how much evidence the verdict was reached."""
    parts = [f"combined p = {_p(verdict.get('p_value'))}"]
    if verdict.get("samples") is not None:
        parts.append(f"{_e(verdict.get('baseline_samples'))} baseline vs {_e(verdict.get('samples'))} samples")
    alpha = verdict.get("alpha")
    if isinstance(alpha, (int, float)):
        parts.append(f"FDR {_e(percent(alpha))} over {_e(verdict.get('family'))} cases")
    return " · ".join(parts)


def _verdict_tests(tests: Sequence[dict[str, Any]]) -> str:
    """The tests behind a verdict: what was measured then and now, the effect with its interval, the p-value."""
    if not tests:
        return ""
    rows = []
    for test in tests:
        judged = [
            label
            for key, label in (("significant", "significant"), ("beyond_tolerance", "beyond tolerance"))
            if test.get(key)
        ]
        marked = ' class="significant"' if test.get("significant") else ""
        rows.append(
            f"<tr{marked}><td>{_e(test.get('name'))}</td>"
            f'<td class="n">{_num(test.get("then"))} → {_num(test.get("now"))}</td>'
            f'<td class="n">{_num(test.get("effect"))}{_interval(test.get("ci"))}</td>'
            f'<td class="n">{_p(test.get("p_value"))}</td><td>{_e(", ".join(judged) or "-")}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("test", "then → now", "effect [interval]", "p-value", "judged"))
    return f'<table class="tests"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _verdict_panel(verdict: dict[str, Any]) -> str:
    """Why a case got its verdict: the reasons in words, then the numbers."""
    reasons = "".join(f'<div class="vreason">{_e(r)}</div>' for r in verdict.get("reasons") or [])
    return (
        f'<div class="verdict">{_badge(verdict.get("verdict"))} <span class="vmeta">{_verdict_meta(verdict)}</span>'
        f"{reasons}{_verdict_tests(verdict.get('tests') or [])}</div>"
    )


def _verdicts(summary: RunSummary, results: Sequence[CaseResult]) -> str:
    """The verdict sentences at the top of the page, and a link to each case that is not stable."""
    sentences = verdict_sentences(summary)
    if not sentences:
        return ""
    anchors = {id(r): index for index, r in enumerate(results)}
    items = "".join(
        f'<li><a href="#case-{anchors[id(r)]}">{_badge(verdict_name(r))} {_e(r.suite)}::{_e(r.case)}[{_e(r.model)}]</a>'
        f" — {_e(first_reason(r))}</li>"
        for r in noteworthy(results)
    )
    listed = f"<ul>{items}</ul>" if items else ""
    return '<div class="verdicts">' + "".join(f"<p>{_e(line)}</p>" for line in sentences) + f"{listed}</div>"


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
    return (
        f'<table class="diff"><thead><tr><th>golden</th><th>now</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


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
    verdict = _verdict_panel(result.verdict) if result.verdict else ""
    return (
        f'<div class="failure"><h3>{_e(result.path)}::{_e(result.case)}[{_e(result.model)}] — {_e(result.outcome)}</h3>'
        f"{reasons}{verdict}{body}<details><summary>prompt</summary>{prompt}</details></div>"
    )


def _groups_table(summary: RunSummary) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "suite",
            "model",
            "cases",
            "pass",
            "fail",
            "drift",
            "errors",
            "p50 ms",
            "p95 ms",
            "tokens in",
            "tokens out",
            "cost",
            "similarity",
        )
    )

    def row(f: Figures) -> str:
        cells = [
            f"<td>{_e(f.suite)}</td><td>{_e(f.model)}</td>",
            *(f'<td class="n">{v}</td>' for v in (f.cases, f.passed, f.failed, f.drifted, f.errors)),
            f'<td class="n">{latency_text(f, 50)}</td><td class="n">{latency_text(f, 95)}</td>',
            f'<td class="n">{f.tokens_in:,}</td><td class="n">{f.tokens_out:,}</td>',
            f'<td class="n">{_e(cost_text(f))}</td>',
            f'<td class="n">{"-" if f.mean_similarity is None else f"{f.mean_similarity:g}"}</td>',
        ]
        return f"<tr>{''.join(cells)}</tr>"

    rows = [row(g) for g in summary.groups] + ([row(summary.totals)] if len(summary.groups) > 1 else [])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _verdict_row(result: CaseResult, columns: int) -> str:
    """The case's verdict details under its row: open for drift and flakiness, folded otherwise."""
    if not result.verdict:
        return ""
    opened = " open" if verdict_name(result) in ("drifted", "flaky") else ""
    tests = result.verdict.get("tests") or []
    why = (
        first_reason(result)
        if result.verdict.get("reasons")
        else (f"{sum(bool(t.get('significant')) for t in tests)} of {len(tests)} tests significant")
    )
    return (
        f'<tr class="verdict-row"><td colspan="{columns}"><details{opened}>'
        f"<summary>verdict {_e(verdict_name(result))}: {_e(why)}</summary>"
        f"{_verdict_panel(result.verdict)}</details></td></tr>"
    )


CASE_COLUMNS = ("suite", "case", "model", "outcome", "similarity", "p50 ms", "tokens out", "cost", "served by")


def _cases_table(results: Sequence[CaseResult]) -> str:
    """Every case; a verdict column (and each verdict's details under its case) only when the run has verdicts."""
    judged = any(r.verdict for r in results)
    columns = CASE_COLUMNS[:4] + ("verdict",) * judged + CASE_COLUMNS[4:]
    rows = []
    for index, r in enumerate(results):
        calls = [c for c in r.calls if c.error is None]
        latencies = timed(r.calls)
        recorded = RECORDED if not latencies and all(c.source == "replay" for c in calls) and calls else ""
        p50 = percentile(latencies or (recorded_latencies(calls) if recorded else []), 50)
        similarity = (r.golden or {}).get("similarity")
        cost = [c.cost_usd for c in calls]
        spent = money(sum(c for c in cost if c is not None), cost.count(None), len(cost))
        rows.append(
            f'<tr id="case-{index}"><td>{_e(r.suite)}</td><td>{_e(r.case)}</td><td>{_e(r.model)}</td>'
            f'<td class="outcome-{_e(r.outcome)}">{_e(r.outcome)}</td>'
            + (f"<td>{_badge(verdict_name(r)) if r.verdict else '-'}</td>" if judged else "")
            + f'<td class="n">{"-" if similarity is None else f"{similarity:g}"}</td>'
            f'<td class="n">{number(p50)}{recorded if p50 is not None else ""}</td>'
            f'<td class="n">{sum(c.tokens_out or 0 for c in calls):,}</td>'
            f'<td class="n">{_e(spent)}{recorded}</td>'
            f"<td>{_e(', '.join(sorted({c.model_served for c in calls if c.model_served})))}</td></tr>"
            + _verdict_row(r, len(columns))
        )
    head = "".join(f"<th>{h}</th>" for h in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def html_report(
    summary: RunSummary,
    results: Sequence[CaseResult],
    created_at: str,
    git_commit: str | None,
    history: Sequence[dict[str, Any]] = (),
) -> str:
    failing = [r for r in results if r.outcome in ("failed", "error")]
    t = summary.totals
    status = "all passed" if not failing else f"{len(failing)} failing"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>promptguard: {_e(status)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>promptguard report: {_e(status)}</h1>",
        f'<div class="meta">{_e(created_at)}{" · commit " + _e(git_commit[:12]) if git_commit else ""} · '
        f"{counted(t.cases, 'case')}</div>",
        _headline(summary),
    ]
    if summary.outage is not None:
        parts.append(f'<p class="reason">{_e(summary.outage.line())}</p>')
    for line in (recorded_line(summary), price_line(summary)):
        if line is not None:
            parts.append(f'<div class="meta">{_e(line)}</div>')
    if summary.verdicts:
        parts.append(_verdicts(summary, results))
    if failing:
        parts.append(f"<h2>Failures ({len(failing)})</h2>")
        parts += [_failure(r) for r in failing]
    notes = [f"error: {e}" for e in summary.goldens.errors] + summary.warnings
    if notes:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    for upgrade in summary.upgrades:
        parts.append(
            f"<h2>Upgrade {_e(upgrade.model)} → "
            f"{_e(upgrade.candidate)}</h2><pre>{_e(chr(10).join(upgrade_lines(upgrade)))}</pre>"
        )
    parts += [
        "<h2>Suites</h2>",
        _groups_table(summary),
        "<h2>Latency</h2>",
        histogram([lat for r in results for lat in timed(r.calls)]),
        "<h2>Cost per tag</h2>",
        cost_bars(summary),
    ]
    if history:
        parts += ["<h2>Trend</h2>", trend(history)]
    if summary.slowest:
        parts.append(
            "<h2>Slowest calls</h2><ol>"
            + "".join(
                f"<li>{s.latency_ms:,.0f} ms — {_e(s.suite)}::{_e(s.case)}[{_e(s.model)}]</li>" for s in summary.slowest
            )
            + "</ol>"
        )
    parts += [f"<h2>All cases ({len(results)})</h2>", _cases_table(results), "</main></body></html>"]
    return "\n".join(parts)
