"""repeat: auto: interim looks stop quiet cases for futility only, which keeps the false-alarm rate of the
last look whatever the rule, and saves calls on quiet cases."""

from __future__ import annotations

import random

from pytest_promptguard.drift.sequential import FUTILITY_P, Looks, futile
from pytest_promptguard.drift.sets import compare_sets

from .drift_null import Mixture


def test_looks():
    looks = Looks.auto(2, 20)
    assert looks.sizes == (2, 4, 8, 16, 20) and looks.pooling == 4
    assert [looks.last(k) for k in range(5)] == [False, False, False, False, True]
    assert Looks((20,)).pooling == 20 and Looks((1,)).pooling == 1 and Looks((1,)).last(0)
    assert Looks((3, 6, 12)).pooling == 6


def test_futility_rule():
    assert not futile(2, 0.9, 0)  # never on two samples
    assert futile(4, FUTILITY_P + 0.01, 0)
    assert not futile(4, FUTILITY_P, 0)
    assert not futile(8, 0.9, 1)  # a new sample unlike every baseline sample keeps the case going


def run_case(mix, kinds, n_baseline, looks, level, seed, stop_early=True):
    """(rejected at the last look, samples taken) for one case sampled in looks."""
    matrix = mix.matrix(kinds)
    for k, n in enumerate(looks.sizes):
        sub = [row[: n_baseline + n] for row in matrix[: n_baseline + n]]
        test = compare_sets(sub, n_baseline, seed=f"{seed}/{k}", draws=0, finest_p=0.01 if looks.last(k) else 0.02)
        if looks.last(k):
            return test.p_value <= level, n
        if stop_early and futile(n, test.p_value, test.effect.novel):
            return False, n


def test_futility_never_adds_a_rejection_and_keeps_the_level():
    looks, n_baseline, level = Looks((2, 4, 5)), 5, 0.1
    rng = random.Random("sequential")
    rejected = rejected_fixed = stopped = 0
    reps = 300
    for rep in range(reps):
        mix = Mixture(rng)
        kinds = mix.kinds(n_baseline + looks.sizes[-1])
        state = rng.getstate()
        with_futility, taken = run_case(mix, kinds, n_baseline, looks, level, rep)
        rng.setstate(state)  # the same similarities for the fixed design
        without, _ = run_case(mix, kinds, n_baseline, looks, level, rep, stop_early=False)
        assert without or not with_futility  # a rejection with futility stops is a rejection without them
        rejected += with_futility
        rejected_fixed += without
        stopped += taken < looks.sizes[-1]
    assert rejected / reps <= level + 3 * (level * (1 - level) / reps) ** 0.5
    assert rejected <= rejected_fixed
    assert stopped / reps >= 0.5  # most quiet cases stop early
