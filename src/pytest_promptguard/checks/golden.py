"""The `golden` check: silent drift. The output must stay similar to the golden recorded for its case.

Text is compared with a fuzzy scorer. When the golden and the output both parse as JSON, their structures
are compared instead: the same keys and value types, string values fuzzy, numbers exact (or within
`tolerance`), so a reordered object is no drift and a renamed key always is. A JSON object or array
answered with text that no longer parses is drift too.
"""

from __future__ import annotations

from typing import Any

from .fuzzy import SCORERS, shown, similarity
from .registry import BuildContext, Check, CheckInput, register, result
from .structured import parse_json_output
from .text import unified_diff

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
        return ([f"{path}: {golden!r} → {now!r} ({scorer} {score:.0f} < {minimum:g})"] if score < minimum else []), [score]
    if isinstance(golden, _NUMBER) and not isinstance(golden, bool):
        return ([f"{path}: {golden} → {now}"], [0.0]) if abs(golden - now) > tolerance else ([], [])
    return ([f"{path}: {golden!r} → {now!r}"], [0.0]) if golden != now else ([], [])


@register(
    "golden",
    {
        "description": "golden: true, or {min: 0-100 (default: a sampled golden's calibrated_min, else drift.min_similarity, else 90), scorer: "
        + " | ".join(SCORERS) + ", tolerance: allowed difference of JSON numbers (default 0)}",
        "oneOf": [
            {"const": True},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "min": {"type": "number", "minimum": 0, "maximum": 100},
                    "scorer": {"enum": list(SCORERS)},
                    "tolerance": {"type": "number", "minimum": 0},
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

    def golden(given: CheckInput) -> Any:
        ref = given.golden
        if ref is None or ref.recording:
            return result("golden", True, "recording the golden (--promptguard-update)")
        problem = ref.unusable()
        if problem:
            return result("golden", False, problem)
        assert ref.entry is not None
        # Unless `min` is set, a sampled golden's own spread sets the bar (calibrated_min in the golden file).
        minimum = explicit_min if explicit_min is not None else ref.entry.calibrated_min
        bar = "min" if minimum is None or explicit_min is not None else "calibrated min"
        if minimum is None:
            minimum = context.golden_min
        expected, output = ref.entry.output, given.call.text
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
                listed = "; ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else "")
                return result("golden", False, f"JSON drifted from the golden: {listed}", score=score, diff=diff)
            return result("golden", True, f"JSON matches the golden (lowest string {scorer} {score:g})", score=score)
        raw = similarity(expected, output, scorer)
        score = shown(raw)
        if raw >= minimum:
            return result("golden", True, f"{scorer} {score:g} >= {bar} {minimum:g} against the golden", score=score)
        return result(
            "golden", False, f"output drifted from the golden: {scorer} {score:g} < {bar} {minimum:g}", score=score, diff=diff
        )

    return golden
