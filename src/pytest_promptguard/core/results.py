"""Records of what was asked and what came back, shaped to cross xdist workers and land in reports.

Every record converts to plain JSON-able dicts (`to_dict`) and back (`from_dict`), because pytest-xdist
ships test reports between processes as plain data.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import FORMAT_VERSION

Source = Literal["live", "cache", "replay"]
TRANSCRIPT_SEPARATOR = "\n\n"  # between the replies of a conversation, in the text that sums it up


def canonical_json(value: Any) -> str:
    """Stable JSON: sorted keys, no whitespace; the basis of every hash we compute."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def text_hash(text: str) -> str:
    """A short, stable name for a text (an output a grader scored, a prompt a golden was recorded from)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Request:
    """One rendered prompt for one configured model."""

    model: str  # the name in promptguard.yaml, e.g. "fast"
    provider: str
    model_id: str | None  # the model asked of the provider, e.g. "gpt-4o-mini"
    messages: tuple[dict[str, Any], ...]
    params: dict[str, Any]
    turns: tuple[
        dict[str, Any], ...
    ] = ()  # a conversation: what follows `messages`, turn by turn (see conversation.py)
    # Tools the model may call, whether it must, and the output's shape, in the normal forms of toolspec.py.
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = None
    response_format: Any = None

    def digest(self) -> str:
        """Hash of what determines the answer: provider, model id, messages, params (and turns, tools, tool_choice
        and response_format, when any)."""
        body = {
            "provider": self.provider,
            "model": self.model_id,
            "messages": list(self.messages),
            "params": self.params,
        }
        if self.turns:
            body["turns"] = list(self.turns)
        # Each only when set, so a request without them keeps the digest its goldens were recorded with.
        for name in ("tools", "tool_choice", "response_format"):
            if getattr(self, name):
                body[name] = list(self.tools) if name == "tools" else getattr(self, name)
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Any
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None  # cache reads, part of input_tokens
    estimated: bool = False  # True when the server reported no usage and we counted ~4 chars a token
    cache_write_tokens: int | None = None  # part of input_tokens (Anthropic's cache_creation_input_tokens)
    reasoning_tokens: int | None = None  # part of output_tokens (thinking)


@dataclass(frozen=True)
class CallError:
    """Why a call produced no answer. A provider failure is an error, never a check failure."""

    kind: str  # connection | timeout | http | stream | bad_response | auth | config | callable
    message: str
    status: int | None = None
    transient: bool = False  # it may pass by itself (an outage: retried until the retries ran out), not a mistake


@dataclass(frozen=True)
class Call:
    """One sample: one request sent to one model and what came back."""

    model: str
    provider: str
    model_asked: str | None
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    model_served: str | None = None
    fingerprint: str | None = None
    finish_reason: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # time to the first token (ms, from the attempt's start); None unless streamed
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    price_source: str | None = None  # what priced it: "genai-prices 0.2.3 snapshot 2026-12-03", "price: in ..."
    priced_as: str | None = None  # the price entry its model id matched, "provider:model"
    attempts: int = 1
    source: Source = "live"
    started_at: str = ""
    error: CallError | None = None
    turns: tuple[Call, ...] = ()  # a conversation's replies, one call per reply; this call sums them up
    stopped: str | None = None  # why a conversation ended before its last turn (the model did not call a tool)

    @property
    def timed(self) -> bool:
        """Its latency means something: a live answer (cached and replayed calls were not timed)."""
        return self.error is None and self.source == "live"

    @property
    def tokens_in(self) -> int | None:
        return self.usage.input_tokens

    @property
    def tokens_out(self) -> int | None:
        return self.usage.output_tokens

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies generically and costs ~0.1 ms a call on a hot path.
        data = dict(self.__dict__)
        data["tool_calls"] = [dict(t.__dict__) for t in self.tool_calls]
        data["usage"] = dict(self.usage.__dict__)
        data["error"] = dict(self.error.__dict__) if self.error else None
        data["turns"] = [t.to_dict() for t in self.turns]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Call:
        data = dict(data)
        data["tool_calls"] = tuple(ToolCall(**t) for t in data.get("tool_calls") or ())
        data["usage"] = Usage(**(data.get("usage") or {}))
        data["error"] = CallError(**data["error"]) if data.get("error") else None
        data["turns"] = tuple(Call.from_dict(t) for t in data.get("turns") or ())
        return cls(**data)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    reason: str
    score: float | None = None
    diff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**data)


Outcome = Literal["passed", "failed", "error", "skipped"]
VERDICTS = ("stable", "drifted", "improved", "flaky", "inconclusive")  # of CaseResult.verdict, in report order


@dataclass
class CaseResult:
    """What one item (case × model) learned; rides on its pytest report as `report.promptguard`."""

    suite: str
    path: str
    case: str
    model: str
    tags: list[str]
    request_digest: str
    messages: list[dict[str, Any]]
    calls: list[Call] = field(default_factory=list)
    checks: list[list[CheckResult]] = field(default_factory=list)  # per call, in call order
    case_checks: list[CheckResult] = field(default_factory=list)  # judged once over all calls
    min_pass_rate: float = 1.0
    baseline_model: str | None = None  # set when a candidate model is judged against this model's goldens
    golden: dict[str, Any] | None = None  # the golden's figures and today's similarity to it
    verdict: dict[str, Any] | None = None  # the statistical verdict against a sampled baseline (see verdict.py)
    # A Python test's `promptguard.call(...)`s, in order (None for a suite's case): each one's golden key (case,
    # model), request hash, and its samples' place in `calls` ([first, first + count)).
    fixture_calls: list[dict[str, Any]] | None = None
    outcome: Outcome = "passed"
    # Calls its checks made (graders, embeddings; see modelchecks.py): {kind, model, source, cost_usd, ...; for a
    # judge also key, rubric, output_hash, score, reason}. Costed apart: never part of the case's own cost.
    check_calls: list[dict[str, Any]] = field(default_factory=list)
    # When recording a sampled golden judged by meaning: the samples' pairwise semantic similarities (100 x cosine).
    semantic_similarities: list[list[float]] | None = None

    @property
    def pass_rate(self) -> float | None:
        """Share of samples whose every check passed; None before the checks ran."""
        if not self.checks:
            return None
        return sum(all(r.passed for r in sample) for sample in self.checks) / len(self.checks)

    @property
    def passed(self) -> bool:
        rate = self.pass_rate
        if self.verdict is not None and self.verdict["fails"]:
            return False
        return rate is not None and rate >= self.min_pass_rate and all(r.passed for r in self.case_checks)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["calls"] = [c.to_dict() for c in self.calls]
        data["checks"] = [[r.to_dict() for r in sample] for sample in self.checks]
        data["case_checks"] = [r.to_dict() for r in self.case_checks]
        data["format_version"] = FORMAT_VERSION
        data["pass_rate"] = self.pass_rate
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        data = {k: v for k, v in data.items() if k not in ("format_version", "pass_rate")}
        data["calls"] = [Call.from_dict(c) for c in data.get("calls", [])]
        data["checks"] = [[CheckResult.from_dict(r) for r in sample] for sample in data.get("checks", [])]
        data["case_checks"] = [CheckResult.from_dict(r) for r in data.get("case_checks", [])]
        return cls(**data)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class UpdateCounts:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    def add(self, other: UpdateCounts) -> None:
        self.added += other.added
        self.updated += other.updated
        self.removed += other.removed
        self.unchanged += other.unchanged


@dataclass
class GoldenReport:
    """What the run did to and found in the golden files, for the summary."""

    counts: UpdateCounts = field(default_factory=UpdateCounts)
    written: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # "file::case[model]" entries of cases that no longer exist
    errors: list[str] = field(default_factory=list)
