"""What the tests of a case, and of a suite x model, say at one look, and which of them fail a run.

A case gets the set test of its samples (`sets`: text, form and checks in one drift score) and, when a
latency tolerance is set, the rank test of its latencies (`latency`); a suite x model gets the pooled set
test (`pooled`) and the pooled latency test. An item's p-value is its smallest test p-value times its number
of tests (Bonferroni within the item). A run splits alpha between two families: SUITE_SHARE for the suite
items, the rest for the cases, each family by Benjamini-Hochberg. On a night when nothing changed each family
rejects anything with probability at most its share, so a run fails with probability at most alpha. A
rejected item fails for the tests that are significant at its bound *and* beyond their tolerance: a drift
score at least `similarity` points above what resampling gives (per case, or on average over a suite's
cases), a typical latency ratio above 1 + `latency`. A significant wobble inside the tolerance is reported,
never failed.

The resolution a case's Monte Carlo p-value needs depends on the other cases (Benjamini-Hochberg), so the
last looks are computed down to `family_bound` (the bound when every case is rejected: 800 draws at alpha
0.01 and two tests), the run is decided, and only the cases that had no exceedance (`SetTest.floored`) and
were not rejected are asked again down to `lone_bound`, then the run is decided again. A drifted case costs
800 draws (about 20 ms) instead of 10,000 unless its rejection hangs on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from . import multiple
from .features import Features
from .latency import LatencyTest, Stratum, case_latency, suite_latency
from .pooled import PooledTest, pool
from .sequential import futile
from .sets import DRAWS, SetTest, compare_sets

SUITE_SHARE = 0.5  # of a run's alpha, for the suite x model items; the cases share the rest


@dataclass(frozen=True)
class Tolerances:
    similarity: float = 5.0  # points of drift score (per case, or per case on average for a suite)
    latency: float | None = None  # growth of the typical latency; None: latency is not judged


@dataclass(frozen=True)
class Finding:
    name: str  # "samples" | "latency"
    p_value: float  # the test's own p-value
    beyond: bool  # its effect is beyond the tolerance, in the drift direction
    summary: str


@dataclass(frozen=True)
class Look:
    """The tests of one item (a case, or a suite x model) at one look."""

    findings: tuple[Finding, ...]

    @property
    def p_value(self) -> float:
        return min(1.0, len(self.findings) * min(f.p_value for f in self.findings))


@dataclass(frozen=True)
class CaseLook(Look):
    text: SetTest
    latency: LatencyTest | None

    def futile(self) -> bool:
        """No evidence of drift at this look (`sequential.futile`): an adaptive case may stop as stable."""
        return futile(self.text.effect.samples, self.p_value, self.text.effect.novel)


@dataclass(frozen=True)
class SuiteLook(Look):
    text: PooledTest
    latency: LatencyTest | None


def family_bound(alpha: float, tests: int) -> float:
    """The largest bound a case's test can face (every case of the run rejected): the first `finest_p`."""
    return alpha * (1.0 - SUITE_SHARE) / tests


def lone_bound(alpha: float, cases: int, tests: int) -> float:
    """The p-value a case's test must reach when it is the run's only rejection: the finest p-value worth
    computing (`sets.compare_sets(finest_p=...)`)."""
    return alpha * (1.0 - SUITE_SHARE) / max(cases, 1) / tests


def look_at_case(
    matrix: Sequence[Sequence[float]],
    n_baseline: int,
    tolerances: Tolerances,
    failed: Sequence[Collection[str]] | None = None,
    figures: Sequence[Features] | None = None,
    latencies: Stratum | None = None,
    seed: int | str = 0,
    draws: int = DRAWS,
    finest_p: float = 1e-3,
) -> CaseLook:
    """One look at a case: the first `n_baseline` rows of `matrix` are the baseline's samples, the rest
    today's. `latencies` (baseline's, today's) are judged when `tolerances.latency` is set; `draws`: splits
    for the suite-level test (0 at looks that do not feed it)."""
    text = compare_sets(matrix, n_baseline, failed, figures, seed, draws, finest_p, tolerances.similarity)
    findings = [Finding("samples", text.p_value, text.excess >= tolerances.similarity, _describe_text(text))]
    latency = None
    if tolerances.latency is not None and latencies is not None and latencies[0] and latencies[1]:
        latency = case_latency(*latencies)
        findings.append(
            Finding("latency", latency.p_slower, latency.ratio > 1.0 + tolerances.latency, latency.describe())
        )
    return CaseLook(tuple(findings), text, latency)


def look_at_suite(cases: Mapping[str, SetTest], strata: Sequence[Stratum], tolerances: Tolerances) -> SuiteLook:
    """The suite x model item: its cases' set tests pooled (each from the same number of draws, at the same
    number of samples per case) and, when judged, their latencies."""
    text = pool(cases)
    per_case = text.excess / max(len(cases), 1)
    leading = ", ".join(text.leading())
    findings = [
        Finding(
            "samples",
            text.p_value,
            per_case >= tolerances.similarity,
            f"drift score {per_case:+.1f} points a case over {len(cases)} case{'s' if len(cases) != 1 else ''} "
            f"(most: {leading or 'none'})",
        )
    ]
    latency = None
    if tolerances.latency is not None and strata:
        latency = suite_latency(strata)
        findings.append(
            Finding("latency", latency.p_slower, latency.ratio > 1.0 + tolerances.latency, latency.describe())
        )
    return SuiteLook(tuple(findings), text, latency)


@dataclass(frozen=True)
class Decision:
    """What the run's error control says of one item: its significant findings, and those that fail it
    (significant and beyond their tolerance)."""

    significant: tuple[Finding, ...]
    failing: tuple[Finding, ...]
    cutoff: float  # the Benjamini-Hochberg bound its family's rejections met (0: none rejected)


def judge_run(
    cases: Mapping[str, Look],
    suites: Mapping[str, Look],
    alpha: float,
    case_count: int | None = None,
    suite_count: int | None = None,
) -> dict[str, Decision]:
    """Every item's decision. `case_count` / `suite_count`: the run's totals when this process judges part of
    them (xdist), as in multiple.benjamini_hochberg."""
    decisions: dict[str, Decision] = {}
    for family, share, count in ((cases, 1.0 - SUITE_SHARE, case_count), (suites, SUITE_SHARE, suite_count)):
        names = list(family)
        level = alpha * share
        rejected = multiple.benjamini_hochberg([family[n].p_value for n in names], level, count)
        cutoff = multiple.bh_threshold(sum(rejected), count or len(names), level) if any(rejected) else 0.0
        for name, reject in zip(names, rejected):
            look = family[name]
            k = len(look.findings)
            significant = tuple(f for f in look.findings if reject and min(1.0, k * f.p_value) <= cutoff)
            decisions[name] = Decision(significant, tuple(f for f in significant if f.beyond), cutoff)
    return decisions


def decide_run(
    cases: Mapping[str, Look],
    suites: Mapping[str, Look],
    alpha: float,
    case_count: int | None = None,
    suite_count: int | None = None,
) -> dict[str, tuple[Finding, ...]]:
    """The findings that fail each item (empty: the item passes); see judge_run."""
    return {name: d.failing for name, d in judge_run(cases, suites, alpha, case_count, suite_count).items()}


def _describe_text(test: SetTest) -> str:
    effect = test.effect
    return (
        f"drift score {test.excess:+.1f} points; {effect.novel} of {effect.samples} samples unlike every baseline "
        f"sample; nearest-baseline similarity {effect.nearest_then:.0f} then, {effect.nearest_now:.0f} now"
    )
