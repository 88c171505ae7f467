"""Power in the open: the closed forms against the set test's power measured by simulation, and the best
possible p-value against what compare_sets returns."""

from __future__ import annotations

import math
import random

import pytest

from pytest_promptguard.drift.power import (
    baseline_spread,
    best_possible_p,
    case_power,
    detectable_loss,
    detectable_share,
)
from pytest_promptguard.drift.sets import compare_sets

from .drift_null import drifted_case, null_case


def test_best_possible_p_is_what_the_test_returns():
    rng = random.Random(1)
    for n_baseline, n_new in ((10, 1), (6, 3), (10, 8)):
        matrix = drifted_case(rng, n_baseline, n_new, share=1.0)  # every new sample far from every baseline one
        test = compare_sets(matrix, n_baseline, draws=0, finest_p=0.01)
        assert test.p_value == pytest.approx(best_possible_p(n_baseline, n_new, finest_p=0.01, draws=0))
    assert best_possible_p(10, 1) == pytest.approx(1 / 11)
    assert best_possible_p(10, 8, finest_p=1e-3) == pytest.approx(1 / 2001)


def test_detectable_share_is_the_fisher_bound():
    # 10 baseline, 8 new, alpha 0.05: X new behaviours give p = C(8, X) / C(18, X); X = 3 gives 0.069, X = 4
    # gives 0.023, so 4 of 8 are needed, and P(Binomial(8, q) >= 4) = 0.8 at q = 0.58.
    q = detectable_share(10, 8, 0.05)
    assert q == pytest.approx(0.585, abs=0.005)
    assert sum(math.comb(8, x) * q**x * (1 - q) ** (8 - x) for x in range(4, 9)) == pytest.approx(0.8, abs=1e-6)
    assert detectable_share(10, 1, 0.05) is None  # a lone sample: p >= 1/11
    assert detectable_share(20, 20, 0.01) < detectable_share(10, 20, 0.01) < detectable_share(10, 8, 0.01)


@pytest.mark.parametrize("n_baseline, n_new, alpha", [(10, 8, 0.05), (20, 20, 0.01)])
def test_the_set_test_reaches_the_reported_share(n_baseline, n_new, alpha):
    q = detectable_share(n_baseline, n_new, alpha)
    rng = random.Random(f"share/{n_baseline}/{n_new}")
    reps = 100
    found = sum(
        compare_sets(drifted_case(rng, n_baseline, n_new, q), n_baseline, seed=r, draws=0, finest_p=alpha).p_value
        <= alpha
        for r in range(reps)
    )
    assert found / reps >= 0.75  # 80% by construction, less binomial noise (measured: 87-89%)


@pytest.mark.parametrize("n_baseline, n_new, alpha", [(10, 8, 0.05), (20, 20, 0.01)])
def test_the_set_test_reaches_the_reported_loss(n_baseline, n_new, alpha):
    rng = random.Random(f"loss/{n_baseline}/{n_new}")
    reps, found = 100, 0
    for r in range(reps):
        matrix = null_case(rng, n_baseline, n_new)
        loss = detectable_loss(n_baseline, n_new, alpha, baseline_spread(matrix, n_baseline))
        for i in range(n_baseline, n_baseline + n_new):  # every new sample loses `loss` points to the baseline
            for j in range(n_baseline):
                matrix[i][j] -= loss
                matrix[j][i] -= loss
        found += compare_sets(matrix, n_baseline, seed=r, draws=0, finest_p=alpha).p_value <= alpha
    assert found / reps >= 0.75


def test_describes_what_the_case_could_see():
    power = case_power(10, 8, 0.01, spread=15.0)
    assert not power.inconclusive
    assert power.describe() == (
        "with 10 baseline samples and 8 new samples this case would detect a new behaviour in >= 70% of answers, "
        "or a similarity loss >= 23 points, with 80% power"
    )
    lone = case_power(10, 1, 0.01, spread=15.0)
    assert lone.inconclusive and lone.loss is None
    assert (
        lone.describe()
        == "with 10 baseline samples and 1 new sample this case cannot reach p <= 0.01 (best possible p = 0.091)"
    )
