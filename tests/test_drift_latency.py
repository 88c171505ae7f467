"""Latency rank tests: the per-case test is the exact rank test on log latency; the suite test is van
Elteren's stratified test, checked against its definition, for calibration under the null, and for the
coverage of its ratio interval (lognormal and heavy-tailed latencies, 5-20 samples per case)."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_promptguard.drift import stats
from pytest_promptguard.drift.latency import case_latency, suite_latency


def test_case_latency_is_the_rank_test_on_logs():
    base, cur = [812, 790, 905, 1010, 760], [1200, 1100, 980, 1500, 1320, 1250]
    test = case_latency(base, cur)
    reference = stats.rank_test([math.log(v) for v in base], [math.log(v) for v in cur], "greater")
    assert test.p_slower == pytest.approx(reference.p_value)
    assert test.ratio == pytest.approx(math.exp(reference.effect))
    assert (test.low, test.high) == pytest.approx((math.exp(reference.ci_low), math.exp(reference.ci_high)))
    assert test.p_faster > 0.9 and test.samples == 6 and test.baseline_samples == 5


def test_suite_latency_hand_computed():
    # Stratum 1 (weight 1/5): log-differences .405, -.288, 1.099, .405; stratum 2 (weight 1/4): .693, -.693.
    # V(0) = (3/5 + 1/4) - 1.3/2 = 0.2; Var = (1/25) 2 2 5/12 + (1/16) 2 1 4/12 = 0.10833.
    test = suite_latency([([100, 200], [150, 300]), ([1000], [2000, 500])])
    assert test.p_slower == pytest.approx(1 - NormalDist().cdf(0.2 / math.sqrt(0.108333333)))
    assert test.ratio == pytest.approx(1.5)  # the weighted median: cumulative weight reaches 0.65 at log 1.5
    assert test.samples == 4 and test.baseline_samples == 3


def weighted_reference(strata, level=0.95):
    """Van Elteren's statistic, its estimate and interval, from the definitions (every pair, no bisection)."""
    pairs, variance = [], 0.0
    for base, cur in strata:
        w = 1 / (len(base) + len(cur) + 1)
        pairs += [(math.log(c) - math.log(b), w) for c in cur for b in base]
        variance += w * w * len(base) * len(cur) * (len(base) + len(cur) + 1) / 12
    total = sum(w for _, w in pairs)
    v0 = sum(w for d, w in pairs if d > 0) + sum(w for d, w in pairs if d == 0) / 2 - total / 2
    z = NormalDist().inv_cdf(0.5 + level / 2) * math.sqrt(variance)

    def smallest_with_weight(target):
        if target <= 0:
            return -math.inf
        acc = 0.0
        for d, w in sorted(pairs):
            acc += w
            if acc >= target - 1e-9:
                return d
        return math.inf

    return (
        1 - NormalDist().cdf(v0 / math.sqrt(variance)),
        smallest_with_weight(total / 2),
        smallest_with_weight(total / 2 - z),
        smallest_with_weight(total / 2 + z),
    )


LATENCIES = st.lists(st.floats(10, 10_000), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(LATENCIES, LATENCIES), min_size=2, max_size=4))
def test_suite_latency_matches_its_definition(strata):
    pooled = [math.log(v) for b, c in strata for v in b + c]  # the test ranks log latencies
    if len(set(pooled)) < len(pooled):
        return  # the reference leaves out the tie correction (10.0 and 10.000000000000002 tie as logs)
    test = suite_latency(strata)
    p, estimate, low, high = weighted_reference(strata)
    assert test.p_slower == pytest.approx(p)
    assert math.log(test.ratio) == pytest.approx(estimate)
    assert test.low == pytest.approx(0.0 if low == -math.inf else math.exp(low))
    assert test.high == (math.inf if high == math.inf else pytest.approx(math.exp(high)))


def lognormal(rng, median, n, sigma=0.35):
    return [median * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


def heavy(rng, median, n):
    """Lognormal with a slow call now and then: 10% of calls slowed by a Pareto(1.1) factor."""
    return [v * (rng.paretovariate(1.1) if rng.random() < 0.1 else 1.0) for v in lognormal(rng, median, n, 0.5)]


def test_suite_null_p_values_are_calibrated():
    rng = random.Random(11)
    ps = []
    for _ in range(400):
        strata = []
        for _ in range(12):
            median = rng.uniform(300, 1500)
            strata.append((heavy(rng, median, 10), heavy(rng, median, rng.choice((2, 4, 8, 20)))))
        ps.append(suite_latency(strata).p_slower)
    for level in (0.01, 0.05, 0.2):
        assert sum(p <= level for p in ps) / len(ps) <= level + 3 * math.sqrt(level * (1 - level) / len(ps))


@pytest.mark.parametrize("shape", [lognormal, heavy])
@pytest.mark.parametrize("cases", [1, 3, 12])
def test_interval_covers_the_true_ratio(shape, cases):
    """95% intervals of a true x1.5, 5-20 samples per case: coverage measured >= 90% (binomial noise allowed)."""
    rng = random.Random(f"{shape.__name__}/{cases}")
    reps, covered = 300, 0
    for _ in range(reps):
        strata = []
        for _ in range(cases):
            median = rng.uniform(300, 1500)
            strata.append(
                (shape(rng, median, rng.randint(5, 20)), [1.5 * v for v in shape(rng, median, rng.randint(5, 20))])
            )
        test = suite_latency(strata)
        covered += test.low <= 1.5 <= test.high
    assert covered / reps >= 0.90
