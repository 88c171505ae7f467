"""Many tests at once: the false discovery rate across a run's cases (Benjamini–Hochberg), and p-values that stay
valid whichever look an adaptive case stops at (`repeat: auto`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

# --- many cases at once ---


def bh_threshold(rank: int, m: int, alpha: float) -> float:
    """rank * alpha / m: the bound the rank-th smallest of m p-values must meet under Benjamini-Hochberg."""
    return rank * alpha / m


def benjamini_hochberg(p_values: Sequence[float], alpha: float, m: int | None = None) -> list[bool]:
    """Which p-values Benjamini-Hochberg rejects at false discovery rate `alpha` (step-up).

    A run judges many cases; flagging each at alpha would flag ~alpha of the unchanged ones. BH rejects
    the k smallest where k is the largest i with p_(i) <= i*alpha/m. `m` may exceed len(p_values): the
    hypotheses tested elsewhere then count as never rejected (p = 1), which keeps a process that sees only
    part of the run's cases valid for the whole run.
    """
    count = len(p_values)
    if m is None:
        m = count
    if m < count:
        raise ValueError(f"m ({m}) must be at least the number of p-values ({count})")
    order = sorted(range(count), key=lambda i: math.inf if math.isnan(p_values[i]) else p_values[i])
    k = 0
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= bh_threshold(rank, m, alpha):
            k = rank
    rejected = [False] * count
    for i in order[:k]:
        rejected[i] = True
    return rejected


def bonferroni_min(p_values: Sequence[float]) -> float:
    """min(1, k * min p): a p-value for "at least one of these k tests is a real change"."""
    if not p_values:
        return 1.0
    return min(1.0, len(p_values) * min(p_values))


# --- adaptive sampling ---


def look_sizes(minimum: int, maximum: int) -> list[int]:
    """The sample counts at which an adaptive case is looked at: minimum, doubling, then maximum.

    Doubling keeps the number of looks logarithmic, so splitting the error rate over them costs little.
    """
    if minimum < 1 or maximum < minimum:
        raise ValueError(f"need 1 <= minimum <= maximum, got {minimum}, {maximum}")
    sizes = [minimum]
    while sizes[-1] * 2 < maximum:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != maximum:
        sizes.append(maximum)
    return sizes


def spending_weights(sizes: Sequence[int]) -> list[float]:
    """Share of the error rate spent at each look, proportional to its sample count (summing to 1):
    early looks on few samples rarely decide anything, so they get little."""
    total = sum(sizes)
    if total <= 0:
        raise ValueError(f"sizes must sum to a positive count, got {list(sizes)}")
    return [s / total for s in sizes]


def sequential_p(p_values: Sequence[float], weights: Sequence[float]) -> float:
    """A p-value valid whichever look sampling stopped at: min over the looks made of p_k / w_k, capped at 1.

    Valid by the union bound: P(exists k: p_k <= t w_k) <= sum_k t w_k = t. `p_values` may be shorter
    than `weights` (sampling stopped early); it may not be longer.
    """
    if len(p_values) > len(weights):
        raise ValueError(f"{len(p_values)} p-values but only {len(weights)} looks")
    best = 1.0
    for p, w in zip(p_values, weights):
        if w > 0:
            best = min(best, p / w)
    return best
