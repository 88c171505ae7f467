"""Latency on whole distributions: rank tests of every sample, per case and pooled over a suite's cases.

A p95 from five samples is one sample's latency, and its ratio swings by x2 on noise alone. Ranks use every
sample and no distributional assumption, so heavy tails (a slow call now and then) cannot fake a change. A
model served slower is slower by a factor, so the tests run on log latency and the effect is a ratio: the
Hodges-Lehmann shift of log latency, exponentiated (the typical ratio of a call today to a baseline call),
with the interval that inverts the same rank test. Pooled over a suite's cases, the van Elteren statistic
weighs each case by 1 / (its samples + 1), the locally best weights when every case shifts by one factor;
within-case ranks keep a slow prompt from being compared with a fast one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from statistics import NormalDist

from . import stats

Stratum = tuple[Sequence[float], Sequence[float]]  # (baseline latencies, today's latencies), in ms


@dataclass(frozen=True)
class LatencyTest:
    p_slower: float  # one-sided: today is slower
    p_faster: float
    ratio: float  # typical latency today / then
    low: float  # interval of the ratio at `level`
    high: float
    samples: int
    baseline_samples: int

    def describe(self, level: float = 0.95) -> str:
        return (
            f"latency x{self.ratio:.2f} ({level:.0%} interval x{self.low:.2f}-x{self.high:.2f}; "
            f"{self.baseline_samples} vs {self.samples} samples)"
        )


def _logs(values: Sequence[float]) -> list[float]:
    if any(v <= 0 or math.isnan(v) for v in values):
        raise ValueError("latencies must be positive numbers")
    return [math.log(v) for v in values]


def case_latency(baseline: Sequence[float], current: Sequence[float], level: float = 0.95) -> LatencyTest:
    """One case: the exact rank test of log latencies (stats.rank_test) and its Moses interval."""
    base, cur = _logs(baseline), _logs(current)
    slower = stats.rank_test(base, cur, "greater", level=level)
    faster = stats.rank_test(base, cur, "less", level=level)
    return LatencyTest(
        slower.p_value,
        faster.p_value,
        math.exp(slower.effect),
        _exp(slower.ci_low),
        _exp(slower.ci_high),
        len(cur),
        len(base),
    )


def suite_latency(strata: Sequence[Stratum], level: float = 0.95) -> LatencyTest:
    """The cases of a suite pooled (van Elteren's stratified rank test, normal approximation). The estimate
    is the weighted median of the within-case pairwise differences of log latency (pair weights: the case's
    van Elteren weight), and the interval holds the shifts the test does not reject at `level`."""
    strata = [(_logs(b), _logs(c)) for b, c in strata if b and c]
    if not strata:
        return LatencyTest(1.0, 1.0, 1.0, 0.0, math.inf, 0, 0)
    if len(strata) == 1:
        b, c = strata[0]
        return case_latency([math.exp(v) for v in b], [math.exp(v) for v in c], level)
    pairs: list[tuple[float, float]] = []
    variance = 0.0
    for base, cur in strata:
        n, m = len(cur), len(base)
        weight = 1.0 / (n + m + 1)
        pairs += [(c - b, weight) for c in cur for b in base]
        variance += weight * weight * n * m * _tie_corrected(base + cur) / 12.0
    pairs.sort()
    diffs = [d for d, _ in pairs]
    below = list(accumulate(w for _, w in pairs))  # below[i]: weight of the pairs up to and including i
    total = below[-1]
    sd = math.sqrt(variance)
    # V(0) = weight of pairs above 0 + half the tied ones - total / 2
    at_or_below, strictly_below = bisect_right(diffs, 0.0), bisect_left(diffs, 0.0)
    weight_le = below[at_or_below - 1] if at_or_below else 0.0
    weight_lt = below[strictly_below - 1] if strictly_below else 0.0
    v0 = (total - weight_le) + (weight_le - weight_lt) / 2.0 - total / 2.0
    z0 = v0 / sd if sd > 0 else 0.0
    half = NormalDist().inv_cdf(0.5 + level / 2.0) * sd

    def quantile(weight: float) -> float:
        """The smallest difference with at least `weight` of the pairs' weight at or below it."""
        if weight <= 0:
            return -math.inf
        if weight > total:
            return math.inf
        return diffs[min(bisect_left(below, weight - 1e-12 * total), len(diffs) - 1)]

    return LatencyTest(
        p_slower=_upper_tail(z0),
        p_faster=_upper_tail(-z0),
        ratio=math.exp(quantile(total / 2.0)),
        low=_exp(quantile(total / 2.0 - half)),
        high=_exp(quantile(total / 2.0 + half)),
        samples=sum(len(c) for _, c in strata),
        baseline_samples=sum(len(b) for b, _ in strata),
    )


def _tie_corrected(pooled: Sequence[float]) -> float:
    """(N + 1) less the tie correction sum(t^3 - t) / (N (N - 1)) of the rank-sum variance."""
    counts: dict[float, int] = {}
    for v in pooled:
        counts[v] = counts.get(v, 0) + 1
    size = len(pooled)
    ties = sum(t**3 - t for t in counts.values())
    return (size + 1) - ties / (size * (size - 1)) if size > 1 else 0.0


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _exp(value: float) -> float:
    return 0.0 if value == -math.inf else math.inf if value == math.inf else math.exp(value)
