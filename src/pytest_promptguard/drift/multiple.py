"""Many tests at once: the false discovery rate across a run's cases (Benjamini–Hochberg), and the looks of
`repeat: auto`."""

from __future__ import annotations

import math
from collections.abc import Sequence


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


# --- adaptive sampling ---


def look_sizes(minimum: int, maximum: int) -> list[int]:
    """The sample counts at which an adaptive case is looked at: minimum, doubling, then maximum.

    Doubling keeps the number of looks, and so the rounds a run waits for, logarithmic.
    """
    if minimum < 1 or maximum < minimum:
        raise ValueError(f"need 1 <= minimum <= maximum, got {minimum}, {maximum}")
    sizes = [minimum]
    while sizes[-1] * 2 < maximum:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != maximum:
        sizes.append(maximum)
    return sizes
