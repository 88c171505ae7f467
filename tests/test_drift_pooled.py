"""The run-level test: its p-value from the cases' joint draws, validity on quiet nights, and power at one
sample per case (point 9 of issue 15: half the answers turning into refusals turns a 12-case run red)."""

from __future__ import annotations

import random

import pytest

from pytest_promptguard.drift.pooled import pool
from pytest_promptguard.drift.sets import compare_sets

from .drift_null import drifted_case, null_case


def test_p_value_counts_joint_draws():
    rng = random.Random(1)
    tests = {f"case-{i}": compare_sets(null_case(rng, 5, 1), 5, seed=i, draws=200) for i in range(3)}
    pooled = pool(tests)
    observed = sum(t.observed.score for t in tests.values())
    joint = [sum(column) for column in zip(*(t.draws for t in tests.values()))]
    assert pooled.p_value == pytest.approx((1 + sum(s >= observed - 1e-9 for s in joint)) / 201)
    assert pooled.excess == pytest.approx(sum(t.excess for t in tests.values()))
    excesses = [c.excess for c in pooled.contributions]
    assert excesses == sorted(excesses, reverse=True)


def test_names_the_cases_that_moved():
    rng = random.Random(2)
    tests = {f"quiet-{i}": compare_sets(null_case(rng, 10, 1), 10, seed=i) for i in range(8)}
    tests.update(
        {f"refusing-{i}": compare_sets(drifted_case(rng, 10, 1, share=1.0), 10, seed=10 + i) for i in range(3)}
    )
    pooled = pool(tests)
    assert set(pooled.leading(3)) == {"refusing-0", "refusing-1", "refusing-2"}
    assert pooled.p_value <= 0.005


def test_needs_equal_draws():
    rng = random.Random(3)
    with pytest.raises(ValueError):
        pool(
            {
                "a": compare_sets(null_case(rng, 5, 1), 5, draws=100),
                "b": compare_sets(null_case(rng, 5, 1), 5, draws=200),
            }
        )
    assert pool({}).p_value == 1.0


@pytest.mark.parametrize("n_baseline, n_new", [(10, 1), (6, 3)])
def test_quiet_runs_are_calibrated(n_baseline, n_new):
    rng = random.Random(f"quiet/{n_new}")
    runs = 300 if n_new == 1 else 200
    ps = []
    for run in range(runs):
        tests = {
            str(c): compare_sets(null_case(rng, n_baseline, n_new), n_baseline, seed=f"{run}/{c}", draws=400)
            for c in range(12)
        }
        ps.append(pool(tests).p_value)
    for level in (0.05, 0.2):
        assert sum(p <= level for p in ps) / runs <= level + 3 * (level * (1 - level) / runs) ** 0.5


def test_one_sample_a_case_half_refusals_turn_runs_red():
    rng = random.Random("refusals")
    runs, red = 100, 0
    for run in range(runs):
        tests = {str(c): compare_sets(drifted_case(rng, 20, 1, share=0.5), 20, seed=f"{run}/{c}") for c in range(12)}
        red += pool(tests).p_value <= 0.005  # the suite items' share of alpha 0.01
    assert red / runs >= 0.8
