"""Fuzzy similarity with rapidfuzz: tolerant of rewording, strict about meaning-bearing words."""

from __future__ import annotations

from typing import Any

from ..core.similarity import DEFAULT_SCORER, SCORERS, shown, similarity
from .registry import BuildContext, Check, CheckInput, register, result
from .text import unified_diff

DEFAULT_MIN = 80.0


@register(
    "fuzzy",
    {
        "type": "object",
        "description": "fuzzy: {expected: text, min: 0-100 (default 80), scorer: " + " | ".join(SCORERS) + "}",
        "required": ["expected"],
        "additionalProperties": False,
        "properties": {
            "expected": {"type": "string"},
            "min": {"type": "number", "minimum": 0, "maximum": 100},
            "scorer": {"enum": list(SCORERS)},
        },
    },
)
def build_fuzzy(argument: dict[str, Any], context: BuildContext) -> Check:
    expected = argument["expected"]
    minimum = float(argument.get("min", DEFAULT_MIN))
    scorer = argument.get("scorer", DEFAULT_SCORER)

    def fuzzy(given: CheckInput) -> Any:
        raw = similarity(expected, given.call.text, scorer)
        passed, score = raw >= minimum, shown(raw)
        reason = f"{scorer} {score:g} {'>=' if passed else '<'} min {minimum:g}"
        return result(
            "fuzzy", passed, reason, score=score, diff=None if passed else unified_diff(expected, given.call.text)
        )

    return fuzzy
