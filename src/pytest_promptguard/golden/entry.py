"""A golden entry: what a case answered for one model when it was recorded.

The output a reviewer reads in a pull request, the model that served it, the hash of the request that produced it
(so an edited prompt is detected as stale), and the latency, token and cost figures later runs are compared
with. A sampled entry (several samples of a nondeterministic model) keeps one canonical output, the sample most
similar to the others, listed first, the other samples' outputs (each distinct text once), and per sample what
the verdict statistics need: which output it gave, its similarity to the canonical output (chosen without it),
the checks it failed, its figures. Drift is judged against the samples as a set (drift/), so their texts are kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from ..core.results import (
    TRANSCRIPT_SEPARATOR,
    Call,
    CaseResult,
    CheckResult,
    ToolCall,
    Usage,
    percentile,
    text_hash,
)
from .sampling import Similarity, canonical_and_held_out

# What makes an entry different enough to rewrite it. Latency, tokens and cost move on every live call;
# rewriting them would put noise in every pull request, so they are refreshed only with a real change.
MATERIAL_FIELDS = (
    "output",
    "tool_calls",
    "request_hash",
    "model_asked",
    "model_served",
    "fingerprint",
    "finish_reason",
)


Scorer = Callable[[str, str, str], float]  # (a, b, scorer name) -> 0-100: checks.fuzzy.similarity


@dataclass(frozen=True)
class GoldenSample:
    """The figures of one recorded call; for a sampled entry also its similarity to the canonical output
    and the labels of the checks it failed (see `check_labels`)."""

    similarity: float | None = None
    failed: tuple[str, ...] = ()
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    judge: dict[str, float] | None = None  # judge scores of this sample, by judgement key (sampled entries)
    output: int | None = None  # its text: 0 the entry's output, k its other_outputs[k - 1] (sampled entries)


@dataclass(frozen=True)
class GoldenJudgement:
    """What a `judge` check's grader said of the golden output, replayed under --promptguard-replay."""

    key: str  # modelchecks: grader, rubric, expected and prompt template hashed
    model: str
    rubric: str
    score: float
    reason: str

    def to_yaml(self) -> dict[str, Any]:
        return {"rubric": self.rubric, "model": self.model, "score": self.score, "reason": self.reason, "key": self.key}


def check_labels(names: Sequence[str]) -> list[str]:
    """Names for a sample's checks that stay the same from run to run: the check's name, with `#2`, `#3`
    for its repeats (`contains`, `contains#2`). The golden check is left out: the similarity covers it."""
    labels, seen = [], {}
    for name in names:
        if name == "golden":
            continue
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def passed_by_label(results: Sequence[CheckResult]) -> dict[str, bool]:
    """A sample's check results by label (golden left out)."""
    kept = [r for r in results if r.name != "golden"]
    return dict(zip(check_labels([r.name for r in kept]), (r.passed for r in kept)))


@dataclass(frozen=True)
class GoldenTurn:
    """One model reply of a recorded conversation."""

    output: str
    tool_calls: tuple[ToolCall, ...] = ()

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"output": self.output}
        if self.tool_calls:
            data["tool_calls"] = _tool_calls_yaml(self.tool_calls)
        return data


@dataclass(frozen=True)
class GoldenEntry:
    output: str
    request_hash: str
    recorded_at: str
    model_asked: str | None = None
    model_served: str | None = None
    fingerprint: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    samples: tuple[GoldenSample, ...] = ()
    scorer: str | None = None  # of the samples' similarities (sampled entries)
    calibrated_min: float | None = None  # the golden check's threshold learned from the samples' spread
    checks: tuple[str, ...] = ()  # labels of the checks the samples were judged by (sampled entries)
    turns: tuple[GoldenTurn, ...] = ()  # a conversation's replies; `output` and `tool_calls` then sum them up
    judge: tuple[GoldenJudgement, ...] = ()  # the judge checks' scores of `output`
    other_outputs: tuple[str, ...] = ()  # the other samples' distinct texts (sampled entries)

    @property
    def sampled(self) -> bool:
        """Recorded from several samples, with what the golden check's calibration needs."""
        return len(self.samples) >= 2 and all(s.similarity is not None for s in self.samples)

    @property
    def sample_texts(self) -> list[str] | None:
        """Each sample's text, for the set verdicts; None for an entry recorded before texts were kept (or of
        one sample), which is judged by its canonical output alone."""
        if not self.sampled or any(s.output is None for s in self.samples):
            return None
        texts = (self.output, *self.other_outputs)
        return [texts[s.output] for s in self.samples if s.output is not None]

    @property
    def similarities(self) -> list[float]:
        """The samples' similarities to the canonical output, each chosen without it (see canonical_and_held_out)."""
        return [s.similarity for s in self.samples if s.similarity is not None]

    def passes(self, label: str) -> int:
        """How many samples passed the check `label`."""
        return sum(label not in s.failed for s in self.samples)

    @property
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.samples]

    @property
    def ttfts(self) -> list[float]:
        return [s.ttft_ms for s in self.samples if s.ttft_ms is not None]

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(self.latencies, 95)

    @property
    def tokens_in(self) -> float | None:
        return _mean(s.tokens_in for s in self.samples)

    @property
    def tokens_out(self) -> float | None:
        return _mean(s.tokens_out for s in self.samples)

    @property
    def cost_usd(self) -> float | None:
        return _mean(s.cost_usd for s in self.samples)

    def differs_from(self, other: GoldenEntry, similar: Scorer | None = None) -> bool:
        """A material change. For a sampled entry a new canonical output is no change while it stays within
        the spread the old samples had (its calibrated minimum): resampling alone must not churn the file."""
        if self.sampled != other.sampled or self.checks != other.checks or self.scorer != other.scorer:
            return True
        if len(self.samples) != len(other.samples) or (self.sample_texts is None) != (other.sample_texts is None):
            return True  # another baseline size, or a baseline recorded before its samples' texts were kept
        if any(getattr(self, name) != getattr(other, name) for name in MATERIAL_FIELDS if name != "output"):
            return True
        if {j.key for j in self.judge} != {j.key for j in other.judge}:
            return True  # a rubric judged now that was not then (or the other way): replay needs its score
        if self.output == other.output:
            return False
        if self.sampled and self.calibrated_min is not None and self.scorer and similar is not None:
            return similar(self.output, other.output, self.scorer) < self.calibrated_min
        return True

    def replayed_calls(self, model: str, provider: str, count: int) -> list[Call]:
        """`count` calls answering as recorded, one recorded sample after another, marked as replayed."""
        samples = self.samples or (GoldenSample(latency_ms=0.0),)
        return [
            Call(
                model=model,
                provider=provider,
                model_asked=self.model_asked,
                text=self.output,
                tool_calls=self.tool_calls,
                model_served=self.model_served,
                fingerprint=self.fingerprint,
                finish_reason=self.finish_reason,
                latency_ms=sample.latency_ms,
                ttft_ms=sample.ttft_ms,
                usage=Usage(input_tokens=sample.tokens_in, output_tokens=sample.tokens_out),
                cost_usd=sample.cost_usd,
                price_source=None if sample.cost_usd is None else "as recorded in the golden",
                source="replay",
                started_at=self.recorded_at,
                turns=tuple(
                    Call(
                        model=model,
                        provider=provider,
                        model_asked=self.model_asked,
                        text=t.output,
                        tool_calls=t.tool_calls,
                        model_served=self.model_served,
                        source="replay",
                    )
                    for t in self.turns
                ),
            )
            for sample in (samples[i % len(samples)] for i in range(count))
        ]

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"turns": [t.to_yaml() for t in self.turns]} if self.turns else {"output": self.output}
        if self.tool_calls and not self.turns:
            data["tool_calls"] = _tool_calls_yaml(self.tool_calls)
        if self.other_outputs:
            data["other_outputs"] = list(self.other_outputs)
        if self.sampled:
            data.update(scorer=self.scorer, calibrated_min=self.calibrated_min, checks=list(self.checks))
        if self.judge:
            data["judge"] = [j.to_yaml() for j in self.judge]
        data.update(
            model_asked=self.model_asked,
            model_served=self.model_served,
            fingerprint=self.fingerprint,
            finish_reason=self.finish_reason,
            request_hash=self.request_hash,
            recorded_at=self.recorded_at,
            latency_p50_ms=_round(self.latency_p50_ms),
            latency_p95_ms=_round(self.latency_p95_ms),
            **({"ttft_p95_ms": _round(percentile(self.ttfts, 95))} if self.ttfts else {}),
            tokens_in=_round(self.tokens_in),
            tokens_out=_round(self.tokens_out),
            cost_usd=self.cost_usd,
            samples=[FlowMap(_sample_yaml(s)) for s in self.samples],
        )
        return data

    @classmethod
    def from_yaml(cls, data: dict[str, Any]) -> GoldenEntry:
        turns = tuple(GoldenTurn(str(t["output"]), _tool_calls(t)) for t in data.get("turns") or ())
        if turns:
            data = {**data, "output": TRANSCRIPT_SEPARATOR.join(t.output for t in turns)}
            data["tool_calls"] = [{"name": c.name, "arguments": c.arguments} for t in turns for c in t.tool_calls]
        return cls(
            turns=turns,
            output=str(data["output"]),
            request_hash=str(data["request_hash"]),
            recorded_at=str(data.get("recorded_at", "")),
            model_asked=data.get("model_asked"),
            model_served=data.get("model_served"),
            fingerprint=data.get("fingerprint"),
            finish_reason=data.get("finish_reason"),
            tool_calls=_tool_calls(data),
            samples=tuple(
                GoldenSample(**{**s, "failed": tuple(s.get("failed") or ())}) for s in data.get("samples") or ()
            ),
            scorer=data.get("scorer"),
            calibrated_min=data.get("calibrated_min"),
            checks=tuple(data.get("checks") or ()),
            other_outputs=tuple(str(t) for t in data.get("other_outputs") or ()),
            judge=tuple(
                GoldenJudgement(
                    str(j["key"]),
                    str(j.get("model", "")),
                    str(j.get("rubric", "")),
                    float(j["score"]),
                    str(j.get("reason", "")),
                )
                for j in data.get("judge") or ()
            ),
        )

    @classmethod
    def from_result(
        cls, result: CaseResult, recorded_at: str, similar: Similarity, scorer: str, tolerance: float
    ) -> GoldenEntry:
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
        return cls(
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


def _judgements(result: CaseResult) -> dict[str, dict[str, Any]]:
    """The judge checks' scores by the hash of the output they graded: {hash: {judgements, scores}}."""
    found: dict[str, dict[str, Any]] = {}
    for record in result.check_calls:
        if record.get("kind") != "judge" or record.get("score") is None:
            continue
        graded = found.setdefault(record["output_hash"], {"judgements": (), "scores": {}})
        if record["key"] not in graded["scores"]:
            graded["judgements"] += (
                GoldenJudgement(
                    record["key"],
                    record.get("model") or "",
                    record.get("rubric") or "",
                    record["score"],
                    record.get("reason") or "",
                ),
            )
            graded["scores"][record["key"]] = record["score"]
    return found


def _tool_calls_yaml(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [{"name": t.name, "arguments": t.arguments} for t in calls]


def _tool_calls(data: dict[str, Any]) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(name=t["name"], arguments=t.get("arguments")) for t in data.get("tool_calls") or ())


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def _round(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)


def _sample_yaml(sample: GoldenSample) -> dict[str, Any]:
    """`{similarity: 92.5, failed: [length], latency_ms: 812.3, tokens_out: 14}`: unknowns and no failures left out."""
    return {k: (list(v) if k == "failed" else v) for k, v in sample.__dict__.items() if v is not None and v != ()}


class FlowMap(dict):
    """A mapping written on one line (`{latency_ms: 812.3, tokens_out: 14}`), to keep files short."""
