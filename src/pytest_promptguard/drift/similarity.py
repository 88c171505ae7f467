"""The similarity drift verdicts are judged by: words, character order, size and form (0-100).

`token_set_ratio` (the golden check's default) scores 100 whenever one answer's words are a subset of the
other's: a bullet list, a JSON wrapper, padding and a dropped sentence all score 100. Verdicts use a blend
that sees all four and still rates paraphrases of one answer close to where token_set_ratio does:

- text: the mean of `token_set_ratio` (forgiving of reordering and rewording, case and punctuation folded)
  and the raw `ratio` (character edits, so a dropped or added sentence and added markup cost points);
- form (FORM_WEIGHT of the score): agreement of size (characters, on a log scale: half or twice the length
  agrees 0), of line count (the same scale), and of shape (list, markdown, JSON, refusal: all four equal or 0).

On the examples of tests/test_drift_similarity.py token_set_ratio scores the four changes 100; this blend
72 (list), 84 (JSON), 88 (padding) and 79 (dropped sentence), while four paraphrases keep about their
token_set_ratio (88, 90, 76, 97 against 84, 93, 71, 100) and a refusal drops to 32 (35).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rapidfuzz import fuzz, utils

from .features import Features, features

FORM_WEIGHT = 0.4
_LOG2 = math.log(2.0)


def text_similarity(a: str, b: str) -> float:
    """0-100: the mean of token_set_ratio (normalised text) and ratio (raw text); equal texts 100 (rapidfuzz
    scores two empty strings 0)."""
    if a == b:
        return 100.0
    return (fuzz.token_set_ratio(a, b, processor=utils.default_process) + fuzz.ratio(a, b)) / 2.0


def _log_agreement(x: int, y: int) -> float:
    """1 for equal counts, falling linearly in |log(x/y)| to 0 at a factor of two."""
    return max(0.0, 1.0 - abs(math.log(max(x, 1) / max(y, 1))) / _LOG2)


def form_agreement(a: Features, b: Features) -> float:
    """0-1: the mean agreement of size, line count and shape."""
    shape = a.listed == b.listed and a.markdown == b.markdown and a.json == b.json and a.refusal == b.refusal
    return (_log_agreement(a.chars, b.chars) + _log_agreement(a.lines, b.lines) + float(shape)) / 3.0


def similarity(a: str, b: str, fa: Features | None = None, fb: Features | None = None) -> float:
    """0-100, symmetric, 100 for equal texts. Pass the texts' features when known, to save their parsing."""
    form = form_agreement(fa or features(a), fb or features(b))
    return (1.0 - FORM_WEIGHT) * text_similarity(a, b) + FORM_WEIGHT * 100.0 * form


def similarity_matrix(
    texts: Sequence[str], figures: Sequence[Features] | None = None, known: Sequence[Sequence[float]] = ()
) -> list[list[float]]:
    """All pairwise similarities (diagonal 100). `known`: the matrix of the first len(known) texts, from an
    earlier look, so that each look only scores the new samples against the others."""
    figures = list(figures) if figures is not None else [features(t) for t in texts]
    n, k = len(texts), len(known)
    matrix = [list(row) + [0.0] * (n - k) for row in known] + [[0.0] * n for _ in range(n - k)]
    for i in range(n):
        matrix[i][i] = 100.0
        for j in range(max(i + 1, k), n):
            matrix[i][j] = matrix[j][i] = similarity(texts[i], texts[j], figures[i], figures[j])
    return matrix
