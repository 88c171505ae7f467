"""The `golden` check: silent drift. The output must stay similar to the golden recorded for its case.

Text is compared with a fuzzy scorer. When the golden and the output both parse as JSON, their structures
are compared instead: the same keys and value types, string values fuzzy, numbers exact (or within
`tolerance`), so a reordered object is no drift and a renamed key always is. A JSON object or array
answered with text that no longer parses is drift too.

Tool calls drift by structure: a tool renamed, a call missing or new, an argument missing or renamed is drift
whatever the text says; argument values compare as JSON outputs do. A golden that is only tool calls (no text)
is judged by them alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from difflib import SequenceMatcher
from typing import Any

from ..core.results import Call, CheckResult, ToolCall, canonical_json
from ..core.similarity import SCORERS, shown, similarity
from .registry import BuildContext, Check, CheckInput, register, result
from .semantic import SCORER as SEMANTIC
from .semantic import embedding_spec, semantic_golden_verdict
from .structured import parse_json_output
from .text import unified_diff
from .tools import call_text

_NUMBER = (int, float)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, _NUMBER):
        return "number"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def compare_json(
    golden: Any, now: Any, minimum: float, scorer: str, tolerance: float, path: str = "$"
) -> tuple[list[str], list[float]]:
    """(problems, scores) between two JSON values; no problems means no drift. Scores are the string
    similarities, and 0 for each structural or numeric difference, so the lowest is the failure's score."""
    if _kind(golden) != _kind(now):
        return [f"{path}: was {_kind(golden)}, now {_kind(now)}"], [0.0]
    if isinstance(golden, dict):
        problems = [f"{path}.{key}: key missing" for key in golden if key not in now]
        problems += [f"{path}.{key}: new key" for key in now if key not in golden]
        scores: list[float] = [0.0] if problems else []
        for key in (k for k in golden if k in now):
            more, more_scores = compare_json(golden[key], now[key], minimum, scorer, tolerance, f"{path}.{key}")
            problems += more
            scores += more_scores
        return problems, scores
    if isinstance(golden, list):
        problems = [f"{path}: {len(golden)} items, now {len(now)}"] if len(golden) != len(now) else []
        scores = [0.0] if problems else []
        for index, (old, new) in enumerate(zip(golden, now)):
            more, more_scores = compare_json(old, new, minimum, scorer, tolerance, f"{path}[{index}]")
            problems += more
            scores += more_scores
        return problems, scores
    if isinstance(golden, str):
        score = similarity(golden, now, scorer)
        return ([f"{path}: {golden!r} → {now!r} ({scorer} {score:.0f} < {minimum:g})"] if score < minimum else []), [
            score
        ]
    if isinstance(golden, _NUMBER) and not isinstance(golden, bool):
        return ([f"{path}: {golden} → {now}"], [0.0]) if abs(golden - now) > tolerance else ([], [])
    return ([f"{path}: {golden!r} → {now!r}"], [0.0]) if golden != now else ([], [])


@register(
    "golden",
    {
        "description": "golden: true, or {min: 0-100 (default: a sampled golden's calibrated_min, "
        "else drift.min_similarity, else 90), scorer: "
        + " | ".join(SCORERS)
        + ", tolerance: allowed difference of JSON numbers (default 0), method: fuzzy | semantic "
        "(semantic: cosine similarity of embeddings, min -1..1, default drift.min_semantic, else 0.85)}",
        "oneOf": [
            {"const": True},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "min": {"type": "number", "minimum": 0, "maximum": 100},
                    "scorer": {"enum": list(SCORERS)},
                    "tolerance": {"type": "number", "minimum": 0},
                    "method": {"enum": ["fuzzy", "semantic"]},
                },
            },
        ],
    },
)
def build_golden(argument: Any, context: BuildContext) -> Check:
    options = argument if isinstance(argument, dict) else {}
    explicit_min = float(options["min"]) if "min" in options else None
    scorer = options.get("scorer", context.golden_scorer)
    tolerance = float(options.get("tolerance", 0))
    semantic = embedding_spec(context, "golden") if options.get("method") == "semantic" else None

    def golden(given: CheckInput) -> Any:
        ref = given.golden
        if ref is None or ref.recording:
            return result("golden", True, "recording the golden (--promptguard-update)")
        problem = ref.unusable()
        if problem:
            return result("golden", False, problem)
        assert ref.entry is not None
        if semantic is not None and (ref.entry.output.strip() or not ref.entry.tool_calls):
            return _semantic(given, ref.entry)
        # Unless `min` is set, a sampled golden's own spread sets the bar (calibrated_min in the golden file).
        minimum = explicit_min if explicit_min is not None else ref.entry.calibrated_min
        bar = "min" if minimum is None or explicit_min is not None else "calibrated min"
        if minimum is None:
            minimum = context.golden_min
        # A calibrated min measures the spread of whole texts, not of argument strings: those take the plain one.
        argument_min = explicit_min if explicit_min is not None else context.golden_min
        calls = _tool_call_verdict(ref.entry.tool_calls, given.call.tool_calls, argument_min, scorer, tolerance)
        if calls is not None and not ref.entry.output.strip():
            return calls  # a golden that is tool calls and no text is judged by its tool calls alone
        text = _text_verdict(ref.entry.output, given.call.text, minimum, bar, scorer, tolerance)
        return text if calls is None else _joined(text, calls)

    def _semantic(given: CheckInput, entry: Any) -> CheckResult:
        # A sampled golden recorded with semantic similarities (100 x cosine) calibrates the bar, as fuzzy does.
        calibrated = (
            entry.calibrated_min / 100 if entry.scorer == SEMANTIC and entry.calibrated_min is not None else None
        )
        minimum = explicit_min if explicit_min is not None else calibrated
        bar = "calibrated min" if explicit_min is None and calibrated is not None else "min"
        text = semantic_golden_verdict(
            context, semantic, given, entry.output, context.semantic_min if minimum is None else minimum, bar
        )
        argument_min = context.golden_min
        calls = _tool_call_verdict(entry.tool_calls, given.call.tool_calls, argument_min, scorer, tolerance)
        return text if calls is None else _joined(text, calls)

    return golden


def _text_verdict(expected: str, output: str, minimum: float, bar: str, scorer: str, tolerance: float) -> CheckResult:
    """The output against the golden's: by structure when both are JSON, else by fuzzy similarity."""
    diff = unified_diff(expected, output, "golden", "now")
    old_json, old_problem = parse_json_output(expected)
    new_json, new_problem = parse_json_output(output)
    if old_problem is None and isinstance(old_json, (dict, list)) and new_problem is not None:
        # Fuzzy text would pass a truncated or chattier answer (`{"a": 1` scores 100 against `{"a": 1}`).
        reason = f"the golden is JSON, the output no longer is: {new_problem}"
        return result("golden", False, reason, score=0.0, diff=diff)
    if old_problem is None and new_problem is None:
        problems, scores = compare_json(old_json, new_json, minimum, scorer, tolerance)
        score = shown(min(scores)) if scores else 100.0
        if problems:
            return result("golden", False, f"JSON drifted from the golden: {_listed(problems)}", score=score, diff=diff)
        return result("golden", True, f"JSON matches the golden (lowest string {scorer} {score:g})", score=score)
    raw = similarity(expected, output, scorer)
    score = shown(raw)
    if raw >= minimum:
        return replace(
            result("golden", True, f"{scorer} {score:g} >= {bar} {minimum:g} against the golden", score=score),
            bar=minimum,
        )
    drifted = result(
        "golden",
        False,
        f"output drifted from the golden: {scorer} {score:g} < {bar} {minimum:g}",
        score=score,
        diff=diff,
    )
    return replace(drifted, bar=minimum)


def _listed(problems: list[str], limit: int = 4) -> str:
    return "; ".join(problems[:limit]) + (f" (+{len(problems) - limit} more)" if len(problems) > limit else "")


# -- tool calls: structural drift ----------------------------------------------------------------------------------


def compare_tool_calls(
    golden: Sequence[ToolCall], now: Sequence[ToolCall], minimum: float, scorer: str, tolerance: float
) -> tuple[list[str], list[float]]:
    """(problems, scores) between the golden's tool calls and today's, like compare_json: a tool renamed, a call
    missing or new, an argument missing or new is drift whatever the similarity of anything else (scored 0);
    argument values compare as JSON does (strings fuzzy, numbers within `tolerance`, key order ignored). Calls
    are paired in order, by name, so one inserted call reads as one new call, not as every later one renamed."""
    problems: list[str] = []
    scores: list[float] = []
    pairs = SequenceMatcher(a=[c.name for c in golden], b=[c.name for c in now], autojunk=False)
    for tag, i1, i2, j1, j2 in pairs.get_opcodes():
        old, new = list(golden[i1:i2]), list(now[j1:j2])
        if tag == "equal":
            for then, today in zip(old, new):
                more, more_scores = compare_json(
                    _arguments(then), _arguments(today), minimum, scorer, tolerance, then.name
                )
                problems += more
                scores += more_scores
            continue
        for then, today in zip(old, new):  # calls at the same place under another name
            problems.append(f"tool renamed: {then.name} → {today.name} ({call_text(then)} → {call_text(today)})")
        problems += [f"tool call missing: {call_text(then)}" for then in old[len(new) :]]
        problems += [f"new tool call: {call_text(today)}" for today in new[len(old) :]]
        scores.append(0.0)
    return problems, scores


def similarity_to_golden(output: str, tool_calls: Sequence[ToolCall], call: Call, scorer: str) -> float:
    """What the reports show as a call's similarity to its golden, 0-100: of the text, or, for a golden of tool
    calls and no text, of the calls (0 for a structural change, else the lowest argument string's similarity)."""
    if tool_calls and not output.strip():
        _, scores = compare_tool_calls(tool_calls, call.tool_calls, 0.0, scorer, 0.0)
        return round(min(scores), 1) if scores else 100.0
    return round(similarity(output, call.text, scorer), 1)


def _arguments(call: ToolCall) -> Any:
    """A call's arguments; none at all is an empty object (Gemini leaves `args` out of a call without any)."""
    return {} if call.arguments is None else call.arguments


def tool_calls_diff(golden: Sequence[ToolCall], now: Sequence[ToolCall]) -> str:
    """A unified diff of the tool calls, one call a line, arguments as sorted JSON (a reordered key is no change)."""

    def lines(calls: Sequence[ToolCall]) -> str:
        return "\n".join(f"{c.name}({canonical_json(_arguments(c))})" for c in calls) or "(no tool calls)"

    return unified_diff(lines(golden), lines(now), "golden tool calls", "tool calls now")


def _tool_call_verdict(
    golden: Sequence[ToolCall], now: Sequence[ToolCall], minimum: float, scorer: str, tolerance: float
) -> CheckResult | None:
    """Today's tool calls against the golden's; None when neither has any."""
    if not golden and not now:
        return None
    problems, scores = compare_tool_calls(golden, now, minimum, scorer, tolerance)
    score = shown(min(scores)) if scores else 100.0
    if problems:
        diff = tool_calls_diff(golden, now)
        return result(
            "golden", False, f"tool calls drifted from the golden: {_listed(problems)}", score=score, diff=diff
        )
    count = f"{len(now)} tool call{'s' if len(now) != 1 else ''}"
    return result("golden", True, f"{count} match the golden", score=score)


def _joined(text: CheckResult, calls: CheckResult) -> CheckResult:
    """The text's verdict and the tool calls' as one: failing when either drifted, showing both diffs."""
    failed = [r for r in (text, calls) if not r.passed]
    scores = [r.score for r in (text, calls) if r.score is not None]
    diffs = [r.diff for r in failed if r.diff]
    return result(
        "golden",
        not failed,
        "; ".join(r.reason for r in (failed or [text, calls])),
        score=min(scores) if scores else None,
        diff="\n".join(diffs) or None,
    )
