"""How a failed or errored item explains itself: failed checks, the prompt, the output, diffs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..core.results import Call, CaseResult, CheckResult, ToolCall, percentile

OUTPUT_LIMIT = 2000


def cut(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """`text`, or its first `limit` characters and a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit} more characters cut]"


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in (text.splitlines() or [""]))


def render_messages(messages: Sequence[dict[str, Any]]) -> str:
    return "\n".join(f"  [{m['role']}] " + cut(str(m["content"]), 500).replace("\n", "\n    ") for m in messages)


def call_line(call: Call) -> str:
    served = call.model_served or "?"
    tokens_in, tokens_out = ("?" if n is None else n for n in (call.tokens_in, call.tokens_out))
    tokens = f"{tokens_in}→{tokens_out}"
    estimated = " (estimated)" if call.usage.estimated else ""
    cost = f"${call.cost_usd:.6f}" if call.cost_usd is not None else "cost unknown"
    extras = [f"{call.attempts} attempts"] if call.attempts > 1 else []
    extras += [f"from {call.source}"] if call.source != "live" else []
    first_token = f" (first token {call.ttft_ms:.0f} ms)" if call.ttft_ms is not None else ""
    return (
        f"{call.model} ({call.provider}, asked {call.model_asked or '-'}, served {served}): {call.latency_ms:.0f} "
        f"ms{first_token}, "
        f"tokens {tokens}{estimated}, {cost}" + "".join(f", {extra}" for extra in extras)
    )


def explain_check_failure(result: CaseResult) -> str:
    """Why a case failed: its pass rate when sampled, every failed check of every sample, the case-level
    checks, then the rendered prompt and the output of the failing samples."""
    calls, checks = result.calls, result.checks
    parts: list[str] = explain_verdict(result.verdict) if result.verdict and result.verdict["fails"] else []
    if result.verdict is not None and not result.min_pass_rate:
        checks = []  # judged by the verdict, not sample by sample
    elif len(calls) > 1:
        passing = sum(all(r.passed for r in sample) for sample in checks)
        latencies = [c.latency_ms for c in calls]
        verdict = ">=" if (result.pass_rate or 0) >= result.min_pass_rate else "<"
        parts.append(
            f"{passing}/{len(calls)} samples passed ({passing / len(calls):.0%} {verdict} min_pass_rate "
            f"{result.min_pass_rate:.0%}); latency p50 {percentile(latencies, 50):.0f} ms, "
            f"p95 {percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms"
        )
    failing = [
        (i, call, results) for i, (call, results) in enumerate(zip(calls, checks)) if not all(r.passed for r in results)
    ]
    for index, _, results in failing:
        label = f"sample {index + 1}/{len(calls)}: " if len(calls) > 1 else ""
        failed = [r for r in results if not r.passed]
        parts.append(f"{label}{len(failed)} of {len(results)} checks failed")
        parts.extend(_failed_check_lines(failed))
    failed_case_checks = [r for r in result.case_checks if not r.passed]
    if failed_case_checks:
        parts.append(f"{len(failed_case_checks)} of {len(result.case_checks)} checks over all samples failed")
        parts.extend(_failed_check_lines(failed_case_checks))
    parts.append("prompt:")
    parts.append(render_messages(result.messages))
    for index, call, _ in (failing or list(zip(range(1), calls, checks or [[]])))[:3]:
        label = f" (sample {index + 1})" if len(calls) > 1 else ""
        parts.append(f"output{label}:")
        parts.append(_indent(cut(call.text)))
        if call.tool_calls:  # often the whole answer of an agent: no text, a call
            parts.append(f"tool calls{label}:")
            parts.extend(f"    {_tool_call_line(t)}" for t in call.tool_calls[:10])
        parts.append(f"call: {call_line(call)}")
    return "\n".join(parts)


def _tool_call_line(call: ToolCall) -> str:
    """`lookup_order({"order_id": "A-17"})`, cut at 300 characters."""
    text = f"{call.name}({json.dumps(call.arguments, ensure_ascii=False, default=str)})"
    return cut(text, 300).replace("\n", " ")


def explain_verdict(verdict: dict[str, Any]) -> list[str]:
    """A failing verdict in ten seconds: what moved and how surely, then and now, the typical change."""
    tested = (
        f"{verdict['family']} case{'s' if verdict['family'] != 1 else ''} tested at FDR {verdict['alpha'] * 100:g}%"
    )
    lines = [f"{verdict['verdict']} against its sampled baseline ({tested}):"]
    lines += [f"  {reason}" for reason in verdict["reasons"]]
    if verdict.get("moved"):
        lines.append(f"  what moved: {'; '.join(verdict['moved'])}")
    then, now = verdict.get("served_then") or [None, None], verdict.get("served_now") or [None, None]
    for what, old, new in (("served model", then[0], now[0]), ("fingerprint", then[1], now[1])):
        if old is not None or new is not None:
            lines.append(f"  {what}: {old or '?'} → {new or '?'}" if old != new else f"  {what}: {new} (unchanged)")
    shown = verdict.get("representative")
    if shown is not None:
        lines.append(f"  the sample that stands for the change: {shown['alike']}")
    if verdict.get("diff"):
        lines.append("  diff nearest baseline sample → that sample:")
        lines.append(_indent(cut(verdict["diff"]), "    "))
    if verdict.get("power"):
        lines.append(f"  power: {verdict['power']}")
    return lines


def explain_suite_verdict(record: dict[str, Any]) -> str:
    """A suite x model that drifted as a whole: what moved, how surely, and which cases weigh most."""
    family = record["family"]
    tested = f"{family} suite × model{'s' if family != 1 else ''} tested at FDR {record['alpha'] * 100:g}%"
    lines = [
        f"{record['model']} drifted across the suite '{record['suite']}' "
        f"({record['cases']} case{'s' if record['cases'] != 1 else ''} pooled; {tested}):"
    ]
    lines += [f"  {reason}" for reason in record["reasons"]]
    return "\n".join(lines)


def _failed_check_lines(failed: Sequence[CheckResult]) -> list[str]:
    lines = []
    for failure in failed:
        score = f" (score {failure.score:g})" if failure.score is not None else ""
        lines.append(f"  ✗ {failure.name}: {failure.reason}{score}")
        if failure.diff:
            lines.append(_indent(cut(failure.diff)))
    return lines


def explain_call_errors(calls: Sequence[Call]) -> str:
    """A provider failure: which model, where, what the server said. Never a key."""
    lines = []
    for index, call in enumerate(calls):
        if call.error is None:
            continue
        label = f"sample {index + 1}/{len(calls)}: " if len(calls) > 1 else ""
        status = f" (HTTP {call.error.status})" if call.error.status else ""
        attempts = f" after {call.attempts} attempts" if call.attempts > 1 else ""
        lines.append(
            f"{label}model '{call.model}' ({call.provider}, {call.model_asked or '-'}) failed{attempts}: "
            f"{call.error.kind}{status}: {call.error.message}"
        )
    if all(call.error is None or call.error.kind == "replay" for call in calls):
        lines.append("replaying goldens (--promptguard-replay): nothing was called, nothing was judged")
    else:
        lines.append("this is a provider error, not a check failure: the output was never judged")
    return "\n".join(lines)
