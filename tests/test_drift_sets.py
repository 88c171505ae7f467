"""The case-level set test: its drift score against brute-force definitions, exact p-values on hand-computed
cases, validity under exchangeable nulls (exactly, over every labelling, and by seeded simulation), the effect
and the representative sample."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from statistics import fmean

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_promptguard.drift.features import features
from pytest_promptguard.drift.sets import EXCEEDANCES, compare_sets

from .drift_null import null_case

FAST = settings(max_examples=40, deadline=None)


def brute_parts(matrix, baseline, new, failed=None):
    """The drift score's parts straight from their definitions."""

    def nearest(i):
        return max(matrix[i][j] for j in baseline if j != i)

    novelty = fmean(nearest(i) for i in baseline) - fmean(nearest(i) for i in new)

    def block(a, b):
        return fmean(matrix[i][j] for i in a for j in b)

    shift = block(baseline, baseline) + block(new, new) - 2 * block(baseline, new)
    labels = sorted({label for f in failed or () for label in f})
    checks = max(
        (
            100 * (fmean(label in failed[i] for i in new) - fmean(label in failed[i] for i in baseline))
            for label in labels
        ),
        default=0.0,
    )
    return novelty, shift, checks


def reorder(matrix, order):
    return [[matrix[i][j] for j in order] for i in order]


@st.composite
def pooled(draw, most=7):
    size = draw(st.integers(3, most))
    n_baseline = draw(st.integers(2, size - 1))
    values = draw(st.lists(st.integers(0, 100), min_size=size * size, max_size=size * size))
    matrix = [[100.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1, size):
            matrix[i][j] = matrix[j][i] = float(values[i * size + j])
    failed = draw(st.lists(st.sets(st.sampled_from(["a", "b"])), min_size=size, max_size=size))
    return matrix, n_baseline, failed


# --- the score and exact p-values ---


def test_hand_computed_three_samples():
    # A, B baseline; C new. Splits: C new (score 112.5), B new (-42.5), A new (-25): C's is the largest.
    matrix = [[100, 90, 30], [90, 100, 40], [30, 40, 100]]
    test = compare_sets(matrix, 2)
    assert test.exact and test.splits == 3
    assert test.p_value == pytest.approx(1 / 3)
    assert (test.observed.novelty, test.observed.shift, test.observed.checks) == pytest.approx((50.0, 125.0, 0.0))
    assert test.observed.score == pytest.approx(112.5)
    assert test.expected.score == pytest.approx((112.5 - 42.5 - 25) / 3)
    assert test.excess == pytest.approx(112.5 - 15.0)


def test_hand_computed_check_failures():
    # The new sample fails check x, which no baseline sample did: +100 points of checks.
    matrix = [[100, 90, 30], [90, 100, 40], [30, 40, 100]]
    test = compare_sets(matrix, 2, failed=[set(), set(), {"x"}])
    assert test.observed.checks == pytest.approx(100.0)
    assert test.observed.score == pytest.approx(212.5)


@FAST
@given(pooled())
def test_score_matches_definitions_for_every_split(case):
    matrix, n_baseline, failed = case
    size = len(matrix)
    for new in itertools.combinations(range(size), size - n_baseline):
        baseline = [i for i in range(size) if i not in new]
        order = baseline + list(new)
        test = compare_sets(reorder(matrix, order), n_baseline, [failed[i] for i in order], draws=0)
        parts = (test.observed.novelty, test.observed.shift, test.observed.checks)
        assert parts == pytest.approx(brute_parts(matrix, baseline, list(new), failed), abs=1e-9)


@FAST
@given(pooled())
def test_exact_p_matches_enumeration(case):
    matrix, n_baseline, failed = case
    size = len(matrix)

    def score(baseline, new):
        n, s, c = brute_parts(matrix, baseline, new, failed)
        return n + s / 2 + c

    scores = [
        score([i for i in range(size) if i not in new], list(new))
        for new in itertools.combinations(range(size), size - n_baseline)
    ]
    observed = score(list(range(n_baseline)), list(range(n_baseline, size)))
    expected = Fraction(sum(s >= observed - 1e-9 for s in scores), len(scores))
    assert compare_sets(matrix, n_baseline, failed).p_value == pytest.approx(float(expected))


@FAST
@given(pooled(most=6), st.sampled_from([0.1, 0.25, 0.5]))
def test_exact_test_is_valid_over_every_labelling(case, level):
    """For any pooled samples, at most a share `level` of the ways to label them gives p <= level: the
    permutation test's validity under exchangeability, checked without randomness."""
    matrix, n_baseline, failed = case
    size = len(matrix)
    labellings = list(itertools.combinations(range(size), size - n_baseline))
    rejected = 0
    for new in labellings:
        order = [i for i in range(size) if i not in new] + list(new)
        test = compare_sets(reorder(matrix, order), n_baseline, [failed[i] for i in order], draws=0)
        rejected += test.p_value <= level
    assert rejected <= level * len(labellings) + 1e-9


def test_lone_sample_p_is_at_least_one_over_baseline_plus_one():
    rng = random.Random(3)
    for n_baseline in (2, 5, 10, 20):
        size = n_baseline + 1
        matrix = [[100.0] * size for _ in range(size)]
        for i in range(size):
            for j in range(i + 1, size):
                matrix[i][j] = matrix[j][i] = rng.uniform(40, 100)
        for k in range(size):
            matrix[k][-1] = matrix[-1][k] = 0.0 if k != size - 1 else 100.0  # the new sample is as far as can be
        test = compare_sets(matrix, n_baseline)
        assert test.exact and test.p_value == pytest.approx(1 / (n_baseline + 1))


# --- validity by simulation: heavy-tailed paraphrase mixes, exchangeable by construction ---


@pytest.mark.parametrize("n_baseline, n_new, reps", [(10, 1, 1000), (6, 3, 1000), (10, 8, 300), (20, 20, 100)])
def test_null_p_values_are_uniform_or_conservative(n_baseline, n_new, reps):
    rng = random.Random(f"null/{n_baseline}/{n_new}")
    ps = []
    for rep in range(reps):
        m = null_case(rng, n_baseline, n_new)
        ps.append(compare_sets(m, n_baseline, seed=rep, draws=0, finest_p=0.02).p_value)
    for level in (0.05, 0.1, 0.25, 0.5):
        rate = sum(p <= level for p in ps) / reps
        slack = 3 * (level * (1 - level) / reps) ** 0.5 + (1 / (n_baseline + 1) if n_new == 1 else 0)
        assert rate <= level + slack, (level, rate)


def test_monte_carlo_p_value_is_sequential_and_reproducible():
    m = null_case(random.Random(5), 10, 8)
    first = compare_sets(m, 10, seed="case-1", draws=0, finest_p=0.01)
    again = compare_sets(m, 10, seed="case-1", draws=0, finest_p=0.01)
    assert not first.exact and first == again
    # Stopped at the EXCEEDANCES-th split at least as extreme (p = 20 / splits), or ran to 2 / finest_p.
    assert first.p_value == pytest.approx(EXCEEDANCES / first.splits) or first.splits == 200


def test_draws_for_the_run_level_test():
    rng = random.Random(6)
    test = compare_sets(null_case(rng, 10, 4), 10, draws=1000)  # C(14, 4) = 1001 splits: exact, 1000 drawn
    assert test.exact and len(test.draws) == 1000
    assert len(compare_sets(null_case(rng, 10, 20), 10, draws=500).draws) == 500


def test_rejects_bad_sizes():
    with pytest.raises(ValueError):
        compare_sets([[100.0, 50.0], [50.0, 100.0]], 2)
    with pytest.raises(ValueError):
        compare_sets([[100.0, 50.0], [50.0, 100.0]], 1)


# --- effect and representative ---

ANSWER = "You can return any item within 30 days of delivery for a full refund."
PARAPHRASES = [
    ANSWER,
    "Items can be returned within 30 days of delivery; you get a full refund.",
    "You have 30 days from delivery to return an item for a full refund.",
    "Returns are accepted for 30 days after delivery, with a full refund.",
]
REFUSALS = ["I'm sorry, but I can't help with returns.", "I'm sorry, but I can't help with that request."]


def test_effect_and_representative_of_a_refusal_drift():
    from pytest_promptguard.drift.similarity import similarity_matrix

    texts = PARAPHRASES * 2 + [PARAPHRASES[0], REFUSALS[0], PARAPHRASES[2], REFUSALS[1]]
    figures = [features(t) for t in texts]
    test = compare_sets(similarity_matrix(texts, figures), 8, figures=figures)
    assert test.effect.novel == 2 and test.effect.samples == 4 and test.effect.novel_share == 0.5
    assert test.effect.nearest_then == 100.0 and test.effect.nearest_now < 100.0
    assert test.representative is not None and test.representative.index in (1, 3)
    assert test.representative.describe() == "2 of 4 samples now look like this; no baseline sample did"
    moved = {m.name: m for m in test.effect.moves if m.moved}
    assert set(moved) == {"refusal"} and (moved["refusal"].then, moved["refusal"].now) == (0.0, 0.5)


def test_no_representative_when_nothing_is_new():
    from pytest_promptguard.drift.similarity import similarity_matrix

    texts = PARAPHRASES * 2 + PARAPHRASES[:3]
    test = compare_sets(similarity_matrix(texts), 8)
    assert test.representative is None and test.effect.novel == 0


def test_check_failures_are_reported_as_moves():
    texts = PARAPHRASES * 2
    matrix = [[100.0 if i == j else 80.0 for j in range(8)] for i in range(8)]
    failed = [set()] * 5 + [{"contains"}] * 3
    test = compare_sets(matrix, 5, failed=failed)
    move = next(m for m in test.effect.moves if m.name == "fails contains")
    assert (move.then, move.now, move.moved) == (0.0, 1.0, True)
    assert test.p_value == pytest.approx(1 / 56)  # C(8, 3): only the observed split puts every failure in today's
    assert texts  # the texts themselves play no part: the matrix and the checks are the data


def test_floored_p_value_can_be_refined():
    from .drift_null import drifted_case

    matrix = drifted_case(random.Random(7), 10, 8, share=1.0)
    coarse = compare_sets(matrix, 10, seed="c", draws=0, finest_p=0.01)
    assert coarse.floored and coarse.p_value == pytest.approx(1 / 201)
    fine = compare_sets(matrix, 10, seed="c", draws=0, finest_p=0.001)
    assert fine.floored and fine.p_value == pytest.approx(1 / 2001)
    alike = [[100.0 if i == j else 80.0 for j in range(18)] for i in range(18)]  # every split ties
    assert not compare_sets(alike, 10, draws=0, finest_p=0.01).floored
