"""How a failed or errored item explains itself: failed checks, the prompt, the output, diffs."""

from __future__ import annotations

from typing import Any, Sequence

from ..results import Call, CheckResult

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
    tokens = f"{call.tokens_in if call.tokens_in is not None else '?'}→{call.tokens_out if call.tokens_out is not None else '?'}"
    estimated = " (estimated)" if call.usage.estimated else ""
    return f"{call.model} ({call.provider}, asked {call.model_asked or '-'}, served {served}): {call.latency_ms:.0f} ms, tokens {tokens}{estimated}"


def explain_check_failure(
    messages: Sequence[dict[str, Any]], calls: Sequence[Call], checks: Sequence[Sequence[CheckResult]]
) -> str:
    """Every failed check of every sample, then the rendered prompt, then the output of each failing sample."""
    parts: list[str] = []
    failing = [(i, call, results) for i, (call, results) in enumerate(zip(calls, checks)) if not all(r.passed for r in results)]
    for index, call, results in failing:
        label = f"sample {index + 1}/{len(calls)}: " if len(calls) > 1 else ""
        failed = [r for r in results if not r.passed]
        parts.append(f"{label}{len(failed)} of {len(results)} checks failed")
        for failure in failed:
            score = f" (score {failure.score:g})" if failure.score is not None else ""
            parts.append(f"  ✗ {failure.name}: {failure.reason}{score}")
            if failure.diff:
                parts.append(_indent(cut(failure.diff)))
    parts.append("prompt:")
    parts.append(render_messages(messages))
    for index, call, _ in failing[:3]:
        label = f" (sample {index + 1})" if len(calls) > 1 else ""
        parts.append(f"output{label}:")
        parts.append(_indent(cut(call.text)))
        parts.append(f"call: {call_line(call)}")
    return "\n".join(parts)


def explain_call_errors(calls: Sequence[Call]) -> str:
    """A provider failure: which model, where, what the server said. Never a key."""
    lines = []
    for index, call in enumerate(calls):
        if call.error is None:
            continue
        label = f"sample {index + 1}/{len(calls)}: " if len(calls) > 1 else ""
        status = f" (HTTP {call.error.status})" if call.error.status else ""
        lines.append(
            f"{label}model '{call.model}' ({call.provider}, {call.model_asked or '-'}) failed: "
            f"{call.error.kind}{status}: {call.error.message}"
        )
    lines.append("this is a provider error, not a check failure: the output was never judged")
    return "\n".join(lines)
