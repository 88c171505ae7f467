"""The verdict statistics: reference values, brute-force enumeration and properties.

Reference values marked "scipy" were computed once with scipy 1.17.1 / numpy (never imported here: the
package is stdlib-only) and hardcoded; the call that produced each is in the comment beside it. Small cases
are also checked against brute-force enumeration of every split of the pooled sample, computed in the test.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_promptguard.drift.multiple import (
    benjamini_hochberg,
    bh_threshold,
    look_sizes,
)
from pytest_promptguard.drift.stats import (
    TestResult,
    _doubled_midranks,
    _exact_rank_p,
    _moses_index_exact,
    _moses_index_normal,
    _normal_rank_p,
    _wilson,
    _z,
    fisher_exact,
    rank_test,
)

FAST = settings(max_examples=60, deadline=None)


# --- brute-force references ---


def midranks(pooled: list[float]) -> list[Fraction]:
    """Mid-rank of each value, straight from the definition: #smaller + (#equal + 1) / 2."""
    return [sum(w < v for w in pooled) + Fraction(sum(w == v for w in pooled) + 1, 2) for v in pooled]


def brute_rank_p(baseline: list[float], current: list[float], alternative: str) -> Fraction:
    """Exact permutation p of current's mid-rank sum: every way to pick len(current) of the pooled values."""
    pooled = list(current) + list(baseline)
    ranks = midranks(pooled)
    n = len(current)
    observed = sum(ranks[:n])
    sums = [sum(s) for s in itertools.combinations(ranks, n)]
    hits = sum(s <= observed for s in sums) if alternative == "less" else sum(s >= observed for s in sums)
    return Fraction(hits, len(sums))


def brute_u_cdf(n: int, m: int) -> list[Fraction]:
    """P(U <= u) for u = 0..nm under H0 without ties, by enumerating all C(n+m, n) rank sets."""
    counts = [0] * (n * m + 1)
    for s in itertools.combinations(range(1, n + m + 1), n):
        counts[sum(s) - n * (n + 1) // 2] += 1
    total = math.comb(n + m, n)
    return [Fraction(sum(counts[: u + 1]), total) for u in range(n * m + 1)]


def brute_moses_k(n: int, m: int, level: Fraction) -> int:
    """Largest k with P(U <= k - 1) <= (1 - level) / 2, in exact arithmetic (0 if none)."""
    tail = (1 - level) / 2
    cdf = brute_u_cdf(n, m)
    return max([k for k in range(1, n * m + 1) if cdf[k - 1] <= tail], default=0)


def brute_fisher_p(pb: int, nb: int, pc: int, nc: int, alternative: str) -> Fraction:
    """Fisher's p by enumeration: every way to choose which nc of the pooled runs were 'current'."""
    passed = [True] * (pb + pc) + [False] * (nb + nc - pb - pc)
    splits = list(itertools.combinations(range(nb + nc), nc))
    counts = [sum(passed[i] for i in s) for s in splits]
    hits = sum(c <= pc for c in counts) if alternative == "less" else sum(c >= pc for c in counts)
    return Fraction(hits, len(splits))


# Data sets for rank_test references. Formula-generated so the data can be re-created exactly in scipy.
A_BASE = [12.1, 14.3, 15.0, 13.7, 16.2, 14.9, 15.5]
A_CUR = [11.2, 12.8, 13.1, 10.9, 14.0]
C_BASE = [((i * 37) % 101) / 10 for i in range(1, 21)]  # 20 vs 20, no ties
C_CUR = [((i * 53) % 103) / 10 + 1.05 for i in range(1, 21)]
F_BASE = [((i * 29) % 97) + 0.5 for i in range(40)]  # 40 vs 12, no ties
F_CUR = [((i * 31) % 89) + 0.25 for i in range(12)]
G_BASE = [((i * 41) % 113) + 0.5 for i in range(29)]  # 29 vs 31: N = 60, the largest exact case
G_CUR = [((i * 43) % 127) + 0.25 for i in range(31)]
H_BASE = [((i * 41) % 113) + 0.5 for i in range(30)]  # 30 vs 31: N = 61, normal approximation
H_CUR = G_CUR
D_BASE = [2, 3, 3, 4, 4, 5, 5]  # heavy ties
D_CUR = [1, 2, 2, 3, 3, 3]
E_BASE = [(i * 7) % 11 for i in range(31)]  # 31 vs 30 with ties: normal approximation
E_CUR = [(i * 5) % 13 for i in range(30)]


# --- rank_test: p-values ---


@pytest.mark.parametrize(
    "baseline, current, alternative, expected",
    [
        # scipy.stats.mannwhitneyu(current, baseline, alternative=..., method='exact').pvalue, scipy 1.17.1
        (A_BASE, A_CUR, "less", 0.015151515151515152),
        (A_BASE, A_CUR, "greater", 0.9911616161616161),
        (C_BASE, C_CUR, "less", 0.5794936336286629),
        (C_BASE, C_CUR, "greater", 0.43099352964904064),
        (F_BASE, F_CUR, "less", 0.09573927480781115),
        (F_BASE, F_CUR, "greater", 0.9079366984615465),
        (G_BASE, G_CUR, "less", 0.28331640467867364),
        (G_BASE, G_CUR, "greater", 0.7216451006538368),
        # scipy.stats.permutation_test((current, baseline), <sum of rankdata of the pooled sample over current>,
        #   permutation_type='independent', n_resamples=np.inf, alternative=...).pvalue: exact with mid-ranks.
        # (scipy's mannwhitneyu(method='exact') ignores ties: it gives 0.02564 / 0.98252 here.)
        (D_BASE, D_CUR, "less", 0.029137529137529136),
        (D_BASE, D_CUR, "greater", 0.9883449883449883),
        # scipy.stats.mannwhitneyu(current, baseline, alternative=..., method='asymptotic', use_continuity=True)
        (E_BASE, E_CUR, "less", 0.8014672697464544),
        (E_BASE, E_CUR, "greater", 0.20259235234794348),
        (H_BASE, H_CUR, "less", 0.2651521190555201),
        (H_BASE, H_CUR, "greater", 0.739552988307107),
    ],
)
def test_rank_p_reference(baseline, current, alternative, expected):
    assert rank_test(baseline, current, alternative).p_value == pytest.approx(expected, rel=1e-9)


def test_rank_p_hand_counted_ties():
    # current [1, 2], baseline [2, 3]: mid-ranks 1, 2.5 | 2.5, 4; current's sum 3.5. Of the 6 splits the
    # sums are 3.5, 3.5, 5, 5, 6.5, 6.5 -> P(sum <= 3.5) = 2/6, P(sum >= 3.5) = 1.
    assert rank_test([2, 3], [1, 2], "less").p_value == pytest.approx(1 / 3, rel=1e-12)
    assert rank_test([2, 3], [1, 2], "greater").p_value == 1.0


@FAST
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=6),
    st.lists(st.integers(0, 4), min_size=1, max_size=6),
    st.sampled_from(["less", "greater"]),
)
def test_rank_p_matches_enumeration_with_ties(baseline, current, alternative):
    expected = brute_rank_p(baseline, current, alternative)
    assert rank_test(baseline, current, alternative).p_value == pytest.approx(float(expected), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.randoms(use_true_random=False))
def test_rank_p_matches_enumeration_continuous(n, m, rnd):
    baseline = [rnd.random() for _ in range(m)]
    current = [rnd.random() + 0.2 for _ in range(n)]
    for alternative in ("less", "greater"):
        expected = brute_rank_p(baseline, current, alternative)
        assert rank_test(baseline, current, alternative).p_value == pytest.approx(float(expected), rel=1e-12)


values = st.lists(st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 1)), min_size=1, max_size=12)


@FAST
@given(values, values)
def test_rank_symmetry(x, y):
    less = rank_test(x, y, "less")
    greater = rank_test(y, x, "greater")
    assert less.p_value == pytest.approx(greater.p_value, rel=1e-12)
    assert less.effect == -greater.effect
    assert (less.ci_low, less.ci_high) == (-greater.ci_high, -greater.ci_low)


@FAST
@given(values, values)
def test_rank_two_tails_overlap_at_observed(x, y):
    # Both tails include the observed statistic, so they add up to 1 + P(statistic == observed) >= 1.
    total = rank_test(x, y, "less").p_value + rank_test(x, y, "greater").p_value
    assert 1.0 - 1e-12 <= total <= 2.0


@FAST
@given(values, values, st.sampled_from([-5.0, -0.5, 0.0, 2.0, 5.0]), st.sampled_from(["less", "greater"]))
def test_rank_shift_equals_shifting_data(x, y, shift, alternative):
    assert rank_test(x, y, alternative, shift=shift) == rank_test(x, [v + shift for v in y], alternative)


def test_rank_shift_for_non_inferiority():
    baseline = [80, 82, 85, 88, 90, 91]
    current = [78, 79, 83, 84, 86, 87]  # a little worse
    # "is current + 10 still greater than baseline?" -> yes
    assert rank_test(baseline, current, "greater", shift=10).p_value < 0.05
    # without the margin, current is not greater
    assert rank_test(baseline, current, "greater").p_value > 0.5


def test_rank_normal_close_to_exact_near_the_switch():
    rnd = random.Random(7)
    for _ in range(20):
        n, m = rnd.randint(25, 30), rnd.randint(25, 30)
        pooled = [rnd.randint(0, 40) for _ in range(n + m)]  # with ties
        doubled, ties = _doubled_midranks(pooled)
        for alternative in ("less", "greater"):
            exact = _exact_rank_p(doubled, n, alternative)
            normal = _normal_rank_p(doubled, ties, n, alternative)
            assert abs(exact - normal) < 0.005, (n, m, exact, normal)
    # H (30 vs 31) is just past the switch; scipy's exact p there is 0.2664872415884676 (less), close to
    # the normal p we give (0.2651521190555201).
    assert rank_test(H_BASE, H_CUR, "less").p_value == pytest.approx(0.2664872415884676, abs=0.002)


def test_rank_degenerate():
    assert rank_test([], [1, 2], "less") == TestResult(1.0, 0.0, -math.inf, math.inf)
    assert rank_test([1, 2], [], "greater") == TestResult(1.0, 0.0, -math.inf, math.inf)
    for sizes in ((3, 4), (40, 50)):  # exact and normal branches
        result = rank_test([5.0] * sizes[0], [5.0] * sizes[1], "less")
        assert result.p_value == 1.0 and result.effect == 0.0
        assert rank_test([5.0] * sizes[0], [5.0] * sizes[1], "greater").p_value == 1.0
    with pytest.raises(ValueError):
        rank_test([1.0], [2.0], "two-sided")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rank_test([1.0, math.nan], [2.0], "less")
    with pytest.raises(ValueError):
        rank_test([1.0], [2.0], "less", level=1.0)


def test_rank_null_is_super_uniform():
    # Under H0 (one distribution) the exact p must satisfy P(p <= a) <= a; the sd of the fraction is ~0.01.
    rnd = random.Random(2024)
    continuous = [
        rank_test([rnd.random() for _ in range(8)], [rnd.random() for _ in range(7)], "less").p_value
        for _ in range(400)
    ]
    tied = [
        rank_test([rnd.randint(0, 3) for _ in range(8)], [rnd.randint(0, 3) for _ in range(9)], "greater").p_value
        for _ in range(400)
    ]
    for ps in (continuous, tied):
        assert sum(p <= 0.05 for p in ps) / len(ps) <= 0.05 + 0.03
        assert sum(p <= 0.20 for p in ps) / len(ps) <= 0.20 + 0.05
        assert all(0.0 <= p <= 1.0 for p in ps)


# --- rank_test: Hodges-Lehmann estimate and Moses interval ---


@pytest.mark.parametrize(
    "n, m, critical_u",
    # Published two-sided 5% critical values of the Mann-Whitney U (standard tables, e.g. Siegel & Castellan
    # 1988 Table J / Zar Table B.11): reject when U <= U_crit, so the Moses k is U_crit + 1.
    [(5, 5, 2), (5, 7, 5), (6, 6, 5), (8, 12, 22), (10, 10, 23), (15, 15, 64), (20, 20, 127)],
)
def test_moses_index_against_published_critical_values(n, m, critical_u):
    assert _moses_index_exact(n, m, 0.95) == critical_u + 1


@pytest.mark.parametrize("n, m", [(2, 3), (3, 3), (4, 6), (5, 7), (6, 6)])
@pytest.mark.parametrize("level", ["0.8", "0.9", "0.95", "0.99"])
def test_moses_index_matches_enumeration(n, m, level):
    assert _moses_index_exact(n, m, float(level)) == brute_moses_k(n, m, Fraction(level))


def test_moses_index_normal_close_to_exact():
    for n, m in [(30, 30), (25, 30), (30, 29), (20, 20)]:
        for level in (0.8, 0.9, 0.95, 0.99):
            assert abs(_moses_index_exact(n, m, level) - _moses_index_normal(n, m, level)) <= 2


def test_moses_interval_small_case():
    # 5 vs 7 at 95%: k = 6 (U_crit = 5), so the interval is the 6th smallest and 6th largest of the
    # 35 differences current - baseline.
    diffs = sorted(c - b for c in A_CUR for b in A_BASE)
    result = rank_test(A_BASE, A_CUR, "less")
    assert (result.ci_low, result.ci_high) == (diffs[5], diffs[-6])
    assert result.effect == diffs[17] == statistics.median(diffs)


def test_moses_interval_too_small():
    # 2 vs 3: the most extreme split has probability 1/10 > 0.025, so 95% cannot be bounded ...
    result = rank_test([1.0, 2.0, 3.0], [4.0, 5.0], "greater")
    assert (result.ci_low, result.ci_high) == (-math.inf, math.inf)
    assert result.effect == 2.5  # differences 1, 2, 2, 3, 3, 4
    # ... but 80% can (tail 0.1 = P(U <= 0)): the extreme differences.
    result = rank_test([1.0, 2.0, 3.0], [4.0, 5.0], "greater", level=0.8)
    assert (result.ci_low, result.ci_high) == (1.0, 4.0)


def test_moses_interval_coverage_by_enumeration():
    # With a true shift of 0 and distinct values, the interval excludes 0 exactly when U <= k-1 or
    # U >= nm-k+1: its exact coverage is 1 - 2 P(U <= k-1) >= level. Check over all splits of 1..10.
    n, m, level = 4, 6, 0.9
    k = _moses_index_exact(n, m, level)
    covered = 0
    splits = list(itertools.combinations(range(1, n + m + 1), n))
    for cur in splits:
        base = [v for v in range(1, n + m + 1) if v not in cur]
        result = rank_test(base, list(cur), "less", level=level)
        covered += result.ci_low <= 0 <= result.ci_high
    assert covered / len(splits) == pytest.approx(float(1 - 2 * brute_u_cdf(n, m)[k - 1]))
    assert covered / len(splits) >= level


@FAST
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=15),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=15),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_hodges_lehmann_inside_interval(x, y, level):
    result = rank_test(x, y, "less", level=level)
    assert result.ci_low <= result.effect <= result.ci_high
    assert result.effect == statistics.median([c - b for c in y for b in x])


def test_hodges_lehmann_inside_interval_normal_branch():
    result = rank_test(H_BASE, H_CUR, "greater")
    assert math.isfinite(result.ci_low) and math.isfinite(result.ci_high)
    assert result.ci_low <= result.effect <= result.ci_high


# --- fisher_exact ---


@pytest.mark.parametrize(
    "pb, nb, pc, nc, alternative, expected",
    [
        # scipy.stats.fisher_exact([[pc, nc - pc], [pb, nb - pb]], alternative=...).pvalue, scipy 1.17.1
        (9, 10, 3, 10, "less", 0.009883305548940223),
        (9, 10, 3, 10, "greater", 0.9996427720885925),
        (48, 80, 56, 70, "less", 0.9978752684504457),
        (48, 80, 56, 70, "greater", 0.006324711129898369),
        (20, 20, 15, 20, "less", 0.023562023562023564),
        (20, 20, 15, 20, "greater", 1.0),
        (5, 12, 11, 12, "less", 0.9993269619060439),
        (5, 12, 11, 12, "greater", 0.013595369497913581),
        (0, 5, 0, 7, "less", 1.0),
        (0, 5, 0, 7, "greater", 1.0),
        (7, 7, 0, 3, "less", 0.008333333333333333),
        (7, 7, 0, 3, "greater", 1.0),
        (45, 50, 38, 50, "less", 0.05418479204411025),
        (45, 50, 38, 50, "greater", 0.9844936302253963),
        (450, 500, 420, 500, "less", 0.0031135731538435504),
        (450, 500, 420, 500, "greater", 0.998282132430664),
        (2500, 5000, 2380, 5000, "less", 0.008638046882390196),
        (2500, 5000, 2380, 5000, "greater", 0.992256707255339),
    ],
)
def test_fisher_reference(pb, nb, pc, nc, alternative, expected):
    assert fisher_exact(pb, nb, pc, nc, alternative).p_value == pytest.approx(expected, rel=1e-9)


@st.composite
def two_groups(draw, max_n=7):
    nb, nc = draw(st.integers(1, max_n)), draw(st.integers(1, max_n))
    return draw(st.integers(0, nb)), nb, draw(st.integers(0, nc)), nc


@FAST
@given(two_groups(), st.sampled_from(["less", "greater"]))
def test_fisher_matches_enumeration(groups, alternative):
    pb, nb, pc, nc = groups
    expected = brute_fisher_p(pb, nb, pc, nc, alternative)
    assert fisher_exact(pb, nb, pc, nc, alternative).p_value == pytest.approx(float(expected), rel=1e-12)


@FAST
@given(two_groups(max_n=40))
def test_fisher_symmetries(groups):
    pb, nb, pc, nc = groups
    less = fisher_exact(pb, nb, pc, nc, "less")
    # swapping groups, or passes with failures, swaps the direction
    assert less.p_value == fisher_exact(pc, nc, pb, nb, "greater").p_value
    assert less.p_value == fisher_exact(nb - pb, nb, nc - pc, nc, "greater").p_value
    assert less.p_value + fisher_exact(pb, nb, pc, nc, "greater").p_value >= 1.0 - 1e-12


def test_newcombe_published_examples():
    # Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (hybrid score, no continuity correction):
    # (a) 56/70 - 48/80 = 0.2: 0.0524 to 0.3339; (b) 9/10 - 3/10 = 0.6: 0.1705 to 0.8090.
    a = fisher_exact(48, 80, 56, 70, "greater")
    assert a.effect == pytest.approx(0.2)
    assert (round(a.ci_low, 4), round(a.ci_high, 4)) == (0.0524, 0.3339)
    b = fisher_exact(3, 10, 9, 10, "greater")
    assert b.effect == pytest.approx(0.6)
    assert (round(b.ci_low, 4), round(b.ci_high, 4)) == (0.1705, 0.8090)
    # the same difference the other way round
    c = fisher_exact(56, 70, 48, 80, "less")
    assert (c.effect, c.ci_low, c.ci_high) == pytest.approx((-a.effect, -a.ci_high, -a.ci_low))


@pytest.mark.parametrize(
    "k, n, level, low, high",
    [
        # scipy.stats.binomtest(k, n).proportion_ci(level, method='wilson'), scipy 1.17.1
        (56, 70, 0.95, 0.6918335550374693, 0.8769526075163704),
        (48, 80, 0.95, 0.490454650051604, 0.7003817240412907),
        (0, 10, 0.95, 0.0, 0.27753279986288926),
        (10, 10, 0.95, 0.7224672001371109, 1.0),
        (3, 10, 0.90, 0.1268765839031979, 0.5583002041301649),
        (1, 29, 0.90, 0.0077308079727380075, 0.14068309513251206),
    ],
)
def test_wilson_reference(k, n, level, low, high):
    assert _wilson(k, n, _z(level)) == pytest.approx((low, high), rel=1e-9, abs=1e-15)


@FAST
@given(two_groups(max_n=60), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_newcombe_interval_properties(groups, level):
    pb, nb, pc, nc = groups
    result = fisher_exact(pb, nb, pc, nc, "less", level=level)
    assert result.effect == pytest.approx(pc / nc - pb / nb)
    assert -1.0 <= result.ci_low <= result.effect <= result.ci_high <= 1.0
    wider = fisher_exact(pb, nb, pc, nc, "less", level=min(0.999, level + 0.005))
    assert wider.ci_low <= result.ci_low + 1e-12 and wider.ci_high >= result.ci_high - 1e-12


def test_fisher_degenerate():
    assert fisher_exact(0, 0, 3, 5, "less") == TestResult(1.0, 0.0, -1.0, 1.0)
    assert fisher_exact(3, 5, 0, 0, "greater") == TestResult(1.0, 0.0, -1.0, 1.0)
    with pytest.raises(ValueError):
        fisher_exact(6, 5, 1, 5, "less")
    with pytest.raises(ValueError):
        fisher_exact(1, 5, -1, 5, "less")


# --- multiple testing ---

# Benjamini & Hochberg (1995), JRSS B 57:289-300, section 4: 15 p-values from a myocardial infarction
# study; at q = 0.05 the procedure rejects the 4 smallest (Bonferroni only the 3 smallest).
BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.0000,
]


def test_bh_worked_example():
    assert benjamini_hochberg(BH_1995, 0.05) == [True] * 4 + [False] * 11
    shuffled = BH_1995[::-1]
    assert benjamini_hochberg(shuffled, 0.05) == [False] * 11 + [True] * 4
    assert sum(p <= 0.05 / 15 for p in BH_1995) == 3  # Bonferroni


def test_bh_step_up_not_step_down():
    # p_(1) fails its bound 0.0125 but p_(2) meets 0.025: step-up rejects both.
    assert benjamini_hochberg([0.02, 0.024, 0.5, 0.9], 0.05) == [True, True, False, False]


def test_bh_threshold_and_m():
    assert bh_threshold(3, 15, 0.05) == pytest.approx(0.01)
    assert benjamini_hochberg([], 0.05) == []
    assert benjamini_hochberg([], 0.05, m=10) == []
    assert benjamini_hochberg([0.004], 0.05, m=10) == [True]
    assert benjamini_hochberg([0.006], 0.05, m=10) == [False]
    with pytest.raises(ValueError):
        benjamini_hochberg([0.01, 0.02], 0.05, m=1)


p_lists = st.lists(st.floats(0, 1, allow_nan=False), max_size=30)


@FAST
@given(p_lists, st.floats(0.001, 0.5))
def test_bh_prefix_and_definition(ps, alpha):
    rejected = benjamini_hochberg(ps, alpha)
    k = sum(rejected)
    # the rejections are the k smallest p-values ...
    if k:
        assert max(p for p, r in zip(ps, rejected) if r) <= min([p for p, r in zip(ps, rejected) if not r], default=1.0)
    # ... where k is the largest i with p_(i) <= i alpha / m
    ordered = sorted(ps)
    expected_k = max([i for i in range(1, len(ps) + 1) if ordered[i - 1] <= i * alpha / len(ps)], default=0)
    assert k == expected_k


@FAST
@given(p_lists, st.floats(0.001, 0.5), st.floats(0.001, 0.5))
def test_bh_monotone_in_alpha(ps, a1, a2):
    low, high = sorted((a1, a2))
    strict, lenient = benjamini_hochberg(ps, low), benjamini_hochberg(ps, high)
    assert all(b or not a for a, b in zip(strict, lenient))


@FAST
@given(p_lists, st.floats(0.001, 0.5), st.integers(0, 20))
def test_bh_larger_m_rejects_subset(ps, alpha, extra):
    whole = benjamini_hochberg(ps, alpha)
    part = benjamini_hochberg(ps, alpha, m=len(ps) + extra)
    assert all(w or not p for p, w in zip(part, whole))
    # m hypotheses of which the unseen ones have p = 1 give the same answer on the seen ones
    padded = benjamini_hochberg(list(ps) + [1.0] * extra, alpha)
    assert part == padded[: len(ps)]


# --- adaptive sampling ---


@pytest.mark.parametrize(
    "minimum, maximum, expected",
    [(2, 20, [2, 4, 8, 16, 20]), (3, 10, [3, 6, 10]), (5, 5, [5]), (4, 8, [4, 8]), (1, 2, [1, 2]), (3, 7, [3, 6, 7])],
)
def test_look_sizes(minimum, maximum, expected):
    assert look_sizes(minimum, maximum) == expected


@pytest.mark.parametrize("minimum, maximum", [(0, 5), (-1, 5), (6, 5)])
def test_look_sizes_invalid(minimum, maximum):
    with pytest.raises(ValueError):
        look_sizes(minimum, maximum)
