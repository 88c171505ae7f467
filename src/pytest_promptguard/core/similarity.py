"""How alike two texts or two embeddings are, 0-100 or -1..1: the scorers checks, goldens and verdicts share."""

from __future__ import annotations

import math
from collections.abc import Callable

from rapidfuzz import fuzz, utils

SCORERS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "WRatio": fuzz.WRatio,
}
DEFAULT_SCORER = "token_set_ratio"
SEMANTIC = "semantic"  # a sampled golden's `scorer` when its similarities are semantic (stored as 100 x cosine)


def similarity(expected: str, actual: str, scorer: str = DEFAULT_SCORER) -> float:
    """0-100; case and punctuation are ignored (rapidfuzz's default_process)."""
    return float(SCORERS[scorer](expected, actual, processor=utils.default_process))


def shown(score: float) -> float:
    """A score cut (not rounded) to one decimal, so 79.96 never reads as passing a min of 80."""
    return math.floor(score * 10) / 10
