"""Verdict statistics: the tests and intervals behind "did this prompt get worse?".

Everything here is a small pure function on plain numbers, stdlib only, so that verdicts are reproducible
on any machine and any xdist worker without numpy or scipy. Samples from language models are small
(a handful to a few dozen calls) and often tied (scores, token counts), so the tests are exact where that
is affordable: Mann-Whitney with mid-ranks by an exact permutation distribution, Fisher's exact test for
pass rates. Many cases are judged in one run, so p-values are combined with Benjamini-Hochberg; cases that
sample adaptively (more calls when undecided) get a p-value that stays valid whichever look they stop at.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Literal

Alternative = Literal["less", "greater"]

# The exact rank distribution is used up to these sizes (a few ms at most); beyond them the normal
# approximation is within a few thousandths of the exact p, and the exact programme keeps growing.
EXACT_MAX_SMALLER = 30
EXACT_MAX_TOTAL = 60

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class TestResult:
    """A one-sided test's p-value with a point estimate and a two-sided interval for the effect."""

    __test__ = False  # not a pytest test class, despite the name

    p_value: float  # one-sided, in [0, 1]
    effect: float  # point estimate of the effect (see each test)
    ci_low: float  # interval of the effect at `level` (may be -inf / inf when the samples are too small)
    ci_high: float


# --- helpers ---


def _normal_cdf(z: float) -> float:
    """Standard normal CDF via erfc, which keeps its accuracy far into both tails (unlike 1 - erf)."""
    return 0.5 * math.erfc(-z / _SQRT2)


def _z(level: float) -> float:
    """The two-sided critical value: z such that N(0,1) puts `level` between -z and z."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _check_alternative(alternative: str) -> None:
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")


def _doubled_midranks(values: Sequence[float]) -> tuple[list[int], list[int]]:
    """Twice the mid-rank of each value (an integer: first + last position of its tie group, 1-based),
    and the sizes of the tie groups. Doubling keeps the exact distribution in integer arithmetic."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = i + j + 2  # (i + 1) + (j + 1): twice the mean of positions i+1..j+1
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _subset_sum_counts(values: Sequence[int], k: int) -> list[int]:
    """counts[s] = number of k-element subsets of `values` (non-negative ints) whose sum is s.

    The classic knapsack recursion, with each row packed into one Python integer (a polynomial in 2**width)
    so that adding an item to every subset is one shift-and-add of C-speed big-integer arithmetic instead of
    a Python loop over sums. No coefficient exceeds C(N, k) when k <= N/2, so `width` bits never carry.
    """
    n = len(values)
    width = (math.comb(n, k).bit_length() + 7) // 8 * 8  # whole bytes: coefficients come out by slicing
    rows = [1] + [0] * k  # rows[j]: generating polynomial of the sums of j-subsets seen so far
    for i, v in enumerate(values):
        shift = v * width
        # Only rows that can still reach k with the items left matter; rows above i+1 are still empty.
        for j in range(min(i + 1, k), max(1, k - (n - 1 - i)) - 1, -1):
            rows[j] += rows[j - 1] << shift
    top = sum(sorted(values, reverse=True)[:k])
    step = width // 8
    raw = rows[k].to_bytes((top + 1) * step, "little")
    return [int.from_bytes(raw[s * step : (s + 1) * step], "little") for s in range(top + 1)]


@lru_cache(maxsize=256)
def _u_cdf(n: int, m: int) -> tuple[int, ...]:
    """Cumulative counts of the Mann-Whitney U statistic under H0 without ties: cdf[u] = #{U <= u},
    out of C(n+m, n). Cached: one adaptive case asks for the same sizes at every look."""
    k = min(n, m)
    counts = _subset_sum_counts(range(n + m), k)  # sums of k of the ranks 0..N-1
    offset = k * (k - 1) // 2  # smallest such sum; U = sum - offset
    cdf, acc = [], 0
    for c in counts[offset:]:
        acc += c
        cdf.append(acc)
    return tuple(cdf)


def _exact_rank_p(doubled: Sequence[int], n: int, alternative: Alternative) -> float:
    """Exact one-sided p of the rank sum of the first n of `doubled` (current), others being baseline.

    Conditional on the observed ties: the permutation distribution of the mid-rank sum, counted by dynamic
    programming over the smaller group (its sum determines the other's).
    """
    m = len(doubled) - n
    lowest = min(doubled)
    g = 0
    for d in doubled:
        g = math.gcd(g, d - lowest)
    g = g or 1  # all tied: every split has the same sum
    reduced = [(d - lowest) // g for d in doubled]  # smaller numbers, same ordering of subset sums
    if n <= m:
        counts = _subset_sum_counts(reduced, n)
        observed = sum(reduced[:n])
        small_tail = alternative == "less"  # current's small sum is evidence that current is lower
    else:
        counts = _subset_sum_counts(reduced, m)
        observed = sum(reduced[n:])
        small_tail = alternative == "greater"  # baseline's small sum = current's large sum
    hits = sum(counts[: observed + 1]) if small_tail else sum(counts[observed:])
    return min(1.0, hits / math.comb(n + m, n))  # int / int: correctly rounded


def _normal_rank_p(doubled: Sequence[int], ties: Sequence[int], n: int, alternative: Alternative) -> float:
    """Normal approximation to the rank-sum p with tie-corrected variance and continuity correction
    (the same formula as scipy.stats.mannwhitneyu(method='asymptotic'))."""
    total = len(doubled)
    m = total - n
    u = sum(doubled[:n]) / 2.0 - n * (n + 1) / 2.0  # U of current
    tie_term = sum(t**3 - t for t in ties)
    var = n * m / 12.0 * ((total + 1) - tie_term / (total * (total - 1)))
    if var <= 0.0:
        return 1.0
    centred = u - n * m / 2.0
    if alternative == "less":
        return min(1.0, _normal_cdf((centred + 0.5) / math.sqrt(var)))
    return min(1.0, _normal_cdf(-(centred - 0.5) / math.sqrt(var)))


def _moses_index_exact(n: int, m: int, level: float) -> int:
    """k such that [D_(k), D_(nm+1-k)] over the sorted pairwise differences covers the shift with
    probability >= level: the largest k with P(U <= k-1) <= (1-level)/2, by the exact null distribution
    of U (0: no finite bound). A relative 1e-12 slack keeps levels like 0.8, whose tail (1-0.8)/2 rounds
    just below 0.1, from missing an attainable bound."""
    cdf = _u_cdf(n, m)
    bound = (1.0 - level) / 2.0 * math.comb(n + m, n) * (1.0 + 1e-12)
    return bisect_right(cdf, bound)  # number of u with P(U <= u) <= tail, i.e. the k above


def _moses_index_normal(n: int, m: int, level: float) -> int:
    """The same k by the normal approximation to U with continuity correction:
    P(U <= k-1) ~ Phi((k - 1/2 - nm/2) / sd) <= (1-level)/2  <=>  k <= nm/2 + 1/2 - z sd."""
    sd = math.sqrt(n * m * (n + m + 1) / 12.0)
    return max(0, math.floor(n * m / 2.0 + 0.5 - _z(level) * sd))


def _median_sorted(ordered: Sequence[float]) -> float:
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


# --- rank test ---


def rank_test(
    baseline: Sequence[float],
    current: Sequence[float],
    alternative: Alternative,
    shift: float = 0.0,
    level: float = 0.95,
) -> TestResult:
    """Mann-Whitney-Wilcoxon rank-sum test of H1 "current + shift is stochastically less ("less") or
    greater ("greater") than baseline".

    Ranks need no distributional assumption, which model scores and latencies violate. The p-value is
    exact (mid-ranks, ties handled by the permutation distribution) when min(n, m) <= 30 and n + m <= 60,
    else the tie- and continuity-corrected normal approximation; it counts the observed statistic as
    extreme. `effect` is the Hodges-Lehmann shift (median of all pairwise differences current + shift -
    baseline) and [ci_low, ci_high] its two-sided Moses interval at `level` (which assumes no ties), with
    infinite bounds when the samples are too small to bound the shift at that level.
    """
    _check_alternative(alternative)
    _z(level)  # validates level
    cur = [float(v) + shift for v in current]
    base = [float(v) for v in baseline]
    n, m = len(cur), len(base)
    if any(math.isnan(v) for v in cur) or any(math.isnan(v) for v in base):
        raise ValueError("rank_test: NaN in the samples has no rank")
    if n == 0 or m == 0:
        return TestResult(1.0, 0.0, -math.inf, math.inf)

    exact = min(n, m) <= EXACT_MAX_SMALLER and n + m <= EXACT_MAX_TOTAL
    doubled, ties = _doubled_midranks(cur + base)
    if len(ties) == 1:  # all values identical: no evidence either way
        p = 1.0
    elif exact:
        p = _exact_rank_p(doubled, n, alternative)
    else:
        p = _normal_rank_p(doubled, ties, n, alternative)

    diffs = sorted([c - b for c in cur for b in base])
    k = _moses_index_exact(n, m, level) if exact else _moses_index_normal(n, m, level)
    if k < 1:
        low, high = -math.inf, math.inf
    else:
        low, high = diffs[k - 1], diffs[n * m - k]
    return TestResult(p, _median_sorted(diffs), low, high)


# --- pass rates ---


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for one proportion: never leaves [0, 1] and stays sensible at 0 and n."""
    p = successes / n
    z2 = z * z
    centre = 2 * n * p + z2
    half = z * math.sqrt(z2 + 4 * n * p * (1 - p))
    denom = 2 * (n + z2)
    low = 0.0 if successes == 0 else max(0.0, (centre - half) / denom)
    high = 1.0 if successes == n else min(1.0, (centre + half) / denom)
    return low, high


def _hypergeometric_count(good: int, bad: int, draws: int, first: int, last: int) -> int:
    """sum over i in [first, last] of C(good, i) C(bad, draws - i): the ways to draw i good ones.

    Each term follows from the previous by an exact integer ratio, one multiply and divide instead of two
    binomials per term, which keeps thousands of runs in milliseconds."""
    term = math.comb(good, first) * math.comb(bad, draws - first)
    total = 0
    for i in range(first, last + 1):
        total += term
        # C(good, i+1) C(bad, draws-i-1) = term (good-i)(draws-i) / ((i+1)(bad-draws+i+1)), an exact division
        if i < last:
            term = term * (good - i) * (draws - i) // ((i + 1) * (bad - draws + i + 1))
    return total


def fisher_exact(
    passes_baseline: int,
    n_baseline: int,
    passes_current: int,
    n_current: int,
    alternative: Alternative,
    level: float = 0.95,
) -> TestResult:
    """One-sided Fisher exact test of H1 "the current pass rate is lower ("less") / higher ("greater")
    than the baseline's".

    Exact because pass counts of a few runs are far too small for a chi-square: conditional on the total
    passes, current's passes are hypergeometric, summed here in exact integer arithmetic. `effect` is the
    difference of rates current - baseline with Newcombe's hybrid score interval (method 10 of Newcombe
    1998, from two Wilson intervals), which behaves at rates of 0 and 1 where the Wald interval fails.
    """
    _check_alternative(alternative)
    for passes, size in ((passes_baseline, n_baseline), (passes_current, n_current)):
        if size < 0 or not 0 <= passes <= max(size, 0):
            raise ValueError(f"need 0 <= passes <= n, got {passes} of {size}")
    if n_baseline == 0 or n_current == 0:
        return TestResult(1.0, 0.0, -1.0, 1.0)

    total = n_baseline + n_current
    passes = passes_baseline + passes_current
    lo, hi = max(0, passes - n_baseline), min(passes, n_current)  # support of current's passes
    first, last = (lo, passes_current) if alternative == "less" else (passes_current, hi)
    p = min(1.0, _hypergeometric_count(passes, total - passes, n_current, first, last) / math.comb(total, n_current))

    z = _z(level)
    p1, p2 = passes_current / n_current, passes_baseline / n_baseline
    l1, u1 = _wilson(passes_current, n_current, z)
    l2, u2 = _wilson(passes_baseline, n_baseline, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return TestResult(p, d, max(-1.0, low), min(1.0, high))
