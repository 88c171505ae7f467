"""Recording a golden entry from a case's result, and growing a sampled baseline (--promptguard-top-up)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ..core.results import CaseResult, ToolCall, text_hash
from .entry import MATERIAL_FIELDS, GoldenEntry, GoldenJudgement, GoldenSample, GoldenTurn, passed_by_label
from .sampling import Similarity, canonical_and_held_out


def record(result: CaseResult, recorded_at: str, similar: Similarity, scorer: str, tolerance: float) -> GoldenEntry:
    """The entry a passing case records. One sample: its output and figures. Several: the canonical
    output, and per sample its (held-out) similarity to it and the checks it failed; the lowest of those
    similarities less `tolerance` becomes the calibrated threshold of the golden check."""
    calls, checks = result.calls, result.checks or [[] for _ in result.calls]
    texts, passing = [c.text for c in calls], [all(r.passed for r in sample) for sample in checks]
    first, held_out = canonical_and_held_out(texts, passing, similar)
    order = [first] + [i for i in range(len(calls)) if i != first]
    sampled = len(calls) >= 2
    scores = dict(enumerate(held_out)) if sampled else {}
    canonical = calls[first]
    judged = _judgements(result)
    distinct = list(dict.fromkeys(calls[i].text for i in order)) if sampled else []
    return GoldenEntry(
        output=canonical.text,
        request_hash=result.request_digest,
        recorded_at=recorded_at,
        model_asked=canonical.model_asked,
        model_served=canonical.model_served,
        fingerprint=canonical.fingerprint,
        finish_reason=canonical.finish_reason,
        tool_calls=tuple(ToolCall(name=t.name, arguments=t.arguments) for t in canonical.tool_calls),
        turns=tuple(
            GoldenTurn(t.text, tuple(ToolCall(name=c.name, arguments=c.arguments) for c in t.tool_calls))
            for t in canonical.turns
        ),
        samples=tuple(
            GoldenSample(
                latency_ms=round(calls[i].latency_ms, 2),
                similarity=scores.get(i),
                failed=tuple(k for k, ok in passed_by_label(checks[i]).items() if not ok) if sampled else (),
                ttft_ms=calls[i].ttft_ms,
                tokens_in=calls[i].tokens_in,
                tokens_out=calls[i].tokens_out,
                cost_usd=None if calls[i].cost_usd is None else float(f"{calls[i].cost_usd:.6g}"),
                judge=judged.get(text_hash(calls[i].text), {}).get("scores") if sampled else None,
                output=distinct.index(calls[i].text) if sampled else None,
            )
            for i in order
        ),
        scorer=scorer if sampled else None,
        calibrated_min=math.floor(max(0.0, min(scores.values()) - tolerance) * 10) / 10 if sampled else None,
        checks=tuple(passed_by_label(checks[0])) if sampled else (),
        judge=judged.get(text_hash(canonical.text), {}).get("judgements", ()),
        other_outputs=tuple(distinct[1:]),
    )


def top_up(old: GoldenEntry, new: GoldenEntry, similar: Similarity, tolerance: float, limit: int) -> GoldenEntry | None:
    """The baseline `old` with `new`'s samples added (up to `limit` samples in all), when both were recorded from
    the same request, served model and fingerprint and judged by the same checks; None otherwise (the new
    entry replaces it as a recording does). The canonical output stays: each added sample's similarity to it
    is held out by construction (it was chosen without them), and the calibrated min takes them in."""
    texts, added = old.sample_texts, new.sample_texts
    same = all(getattr(old, name) == getattr(new, name) for name in MATERIAL_FIELDS if name != "output")
    if texts is None or added is None or not same or old.checks != new.checks or old.scorer != new.scorer:
        return None
    outputs = [old.output, *old.other_outputs]
    samples = list(old.samples)
    for sample, text in zip(new.samples, added):
        if len(samples) >= limit:
            break
        if text not in outputs:
            outputs.append(text)
        samples.append(replace(sample, output=outputs.index(text), similarity=round(similar(old.output, text), 1)))
    lowest = min(s.similarity for s in samples if s.similarity is not None)
    return replace(
        old,
        samples=tuple(samples),
        other_outputs=tuple(outputs[1:]),
        calibrated_min=math.floor(max(0.0, lowest - tolerance) * 10) / 10,
        recorded_at=new.recorded_at,
    )


def _judgements(result: CaseResult) -> dict[str, dict[str, Any]]:
    """The judge checks' scores by the hash of the output they graded: {hash: {judgements, scores}}."""
    found: dict[str, dict[str, Any]] = {}
    for check_call in result.check_calls:
        if check_call.get("kind") != "judge" or check_call.get("score") is None:
            continue
        graded = found.setdefault(check_call["output_hash"], {"judgements": (), "scores": {}})
        if check_call["key"] not in graded["scores"]:
            graded["judgements"] += (
                GoldenJudgement(
                    check_call["key"],
                    check_call.get("model") or "",
                    check_call.get("rubric") or "",
                    check_call["score"],
                    check_call.get("reason") or "",
                ),
            )
            graded["scores"][check_call["key"]] = check_call["score"]
    return found
