"""A sampled baseline's canonical output, and each sample's similarity to it measured as a fresh sample's is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import fmean

Similarity = Callable[[str, str], float]  # 0-100, as the case's drift scorer measures it


def canonical_index(texts: Sequence[str], passing: Sequence[bool], similar: Similarity) -> int:
    """The medoid: the sample most similar, on average, to the others. Chosen among the samples that passed
    every check when there are any, so the output a reviewer reads is a good one."""
    return _medoid(_similarities(texts, similar), passing, range(len(texts)))


def canonical_and_held_out(
    texts: Sequence[str], passing: Sequence[bool], similar: Similarity
) -> tuple[int, list[float]]:
    """The canonical sample (see canonical_index) and each sample's similarity to the canonical output chosen
    from the *other* samples. The medoid of a sample is chosen for being close to that sample, so its members'
    similarity to it flatters them: a fresh sample would look less similar and cry drift. Held out, a recorded
    sample is measured as a fresh one is (a lone sample has no others: no similarities). The pairwise
    similarities are computed once for both."""
    matrix = _similarities(texts, similar)
    held_out = []
    for i in range(len(texts) if len(texts) > 1 else 0):
        others = [j for j in range(len(texts)) if j != i]
        held_out.append(round(matrix[i][_medoid(matrix, passing, others)], 1))
    return _medoid(matrix, passing, range(len(texts))), held_out


def _similarities(texts: Sequence[str], similar: Similarity) -> list[list[float]]:
    matrix = [[100.0] * len(texts) for _ in texts]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            matrix[i][j] = matrix[j][i] = similar(texts[i], texts[j])
    return matrix


def _medoid(matrix: list[list[float]], passing: Sequence[bool], among: Sequence[int]) -> int:
    """The sample of `among` most similar on average to the rest of `among`, preferring passing samples."""
    among = list(among)
    candidates = [i for i in among if passing[i]] or among
    if len(among) < 2:
        return candidates[0]
    return max(candidates, key=lambda i: (fmean(matrix[i][j] for j in among if j != i), -i))
