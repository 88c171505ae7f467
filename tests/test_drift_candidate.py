"""Candidate comparison: worse, better, changed or the same, from two-sided tests."""

from __future__ import annotations

import random

import pytest

from pytest_promptguard.drift import stats
from pytest_promptguard.drift.candidate import compare_candidate
from pytest_promptguard.drift.sets import compare_sets

from .drift_null import drifted_case, null_case


def test_a_check_that_fails_more_is_worse():
    case = compare_candidate(["contains"], [set()] * 10, [{"contains"}] * 8 + [set()] * 2)
    shift = case.shifts[0]
    assert (shift.then, shift.now, shift.direction) == (1.0, 0.2, "worse")
    assert shift.p_worse == pytest.approx(stats.fisher_exact(10, 10, 2, 10, "less").p_value)
    assert shift.p_value == pytest.approx(2 * shift.p_worse)
    assert case.outcome(0.05) == "worse" and case.outcome(None) == "same"


def test_higher_judge_scores_are_better():
    case = compare_candidate(
        [],
        [set()] * 8,
        [set()] * 8,
        {"judge:helpful": [3, 4, 3, 4, 3, 3, 4, 3]},
        {"judge:helpful": [5, 5, 4, 5, 5, 5, 5, 4]},
    )
    assert case.shifts[0].direction == "better" and case.outcome(0.05) == "better"


def test_worse_wins_over_better():
    case = compare_candidate(
        ["json"], [set()] * 10, [{"json"}] * 9 + [set()], {"score": [1.0] * 10}, {"score": [2.0] * 10}
    )
    assert case.tests == 2 and case.outcome(0.05) == "worse"


def test_changed_texts_without_a_direction():
    rng = random.Random(1)
    texts = compare_sets(drifted_case(rng, 10, 10, share=1.0), 10)
    case = compare_candidate(["contains"], [set()] * 10, [set()] * 10, texts=texts)
    assert case.outcome(0.05) == "changed"
    assert case.p_value == pytest.approx(min(1.0, 2 * texts.p_value))


def test_same():
    rng = random.Random(2)
    case = compare_candidate(["contains"], [set()] * 10, [set()] * 10, texts=compare_sets(null_case(rng, 10, 10), 10))
    assert case.p_value > 0.05
