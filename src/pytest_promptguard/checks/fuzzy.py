"""Fuzzy similarity with rapidfuzz: tolerant of rewording, strict about meaning-bearing words."""

from __future__ import annotations

import math
from typing import Any, Callable

from rapidfuzz import fuzz, utils

from .registry import BuildContext, Check, CheckInput, register, result
from .text import unified_diff

SCORERS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "WRatio": fuzz.WRatio,
}
DEFAULT_SCORER = "token_set_ratio"
DEFAULT_MIN = 80.0


def similarity(expected: str, actual: str, scorer: str = DEFAULT_SCORER) -> float:
    """0-100; case and punctuation are ignored (rapidfuzz's default_process)."""
    return float(SCORERS[scorer](expected, actual, processor=utils.default_process))


def shown(score: float) -> float:
    """A score cut (not rounded) to one decimal, so 79.96 never reads as passing a min of 80."""
    return math.floor(score * 10) / 10


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
        return result("fuzzy", passed, reason, score=score, diff=None if passed else unified_diff(expected, given.call.text))

    return fuzzy
