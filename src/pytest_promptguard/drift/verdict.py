"""Statistical verdicts: did this run's samples of a case move away from its sampled baseline?

A model at temperature > 0 answers differently each time, so one sample judged against one golden cries
wolf. Here a case's samples are compared with the samples its golden was recorded from, test by test:

- similarity to the canonical output: a rank test (are today's samples less similar to it than the
  baseline's own samples were?);
- each check's pass rate: Fisher's exact test;
- latency (and time to first token, when the model streams), when a tolerance is set: a rank test, with the
  p95 ratio and its bootstrap interval as effect.

A case's p-value is its smallest test p-value times the number of tests (Bonferroni within the case); the
false discovery rate across the run's cases is held by Benjamini–Hochberg (see `board.py`). A case drifts
when it is significant *and* its effect is beyond the tolerance, so a real but harmless wobble never turns a
build red. With `repeat: auto` the case is looked at after each round of samples; every look spends a
share of the error rate (`multiple.sequential_p`), so stopping early keeps the error rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from ..config.loader import DriftSettings
from ..core.results import Call, CheckResult
from ..golden.entry import GoldenEntry, passed_by_label
from . import multiple, stats

FUTILITY_P = 0.2  # an adaptive case whose every test is this far from drift stops as stable


@dataclass(frozen=True)
class Sample:
    """What one of today's calls contributes: its similarity to the canonical output, its checks, its time."""

    similarity: float
    passed: dict[str, bool]  # by check label (golden.check_labels)
    latency_ms: float | None  # None when it was not timed (cached, replayed)
    ttft_ms: float | None = None  # time to first token, when streamed and timed


@dataclass
class Comparison:
    """One comparison of today's samples with the baseline's; p-values per look (one look unless adaptive)."""

    name: str
    unit: str  # "similarity" | "rate" | "ms"
    then: float
    now: float
    effect: float
    ci: tuple[float, float]
    beyond_tolerance: bool  # the effect is worse than the tolerance allows
    better_beyond: bool  # the effect is better than the tolerance, the other way
    p_looks: list[float] = field(default_factory=list)  # drift direction, one per look
    p_better: float = 1.0  # improvement direction, at the last look
    adjusted_p: float = 1.0  # valid for the case as a whole: x number of tests, and over the looks

    def describe(self, samples: int, baseline_samples: int) -> str:
        counts = f"{baseline_samples} vs {samples} samples"
        if self.unit == "rate":
            return f"{self.name} {self.then:.0%} → {self.now:.0%} (p = {_p(self.adjusted_p)}, {counts})"
        if self.unit == "ms":
            return (
                f"{self.name} p95 {self.then:.0f} → {self.now:.0f} ms (×{self.effect:.2f}, 95% interval "
                f"×{self.ci[0]:.2f}–×{self.ci[1]:.2f}; p = {_p(self.adjusted_p)}, {counts})"
            )
        return f"similarity {self.then:.0f} → {self.now:.0f} (p = {_p(self.adjusted_p)}, {counts})"

    def to_dict(self, significant: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "p_value": _round(self.adjusted_p),
            "effect": _round(self.effect),
            "ci": [_round(self.ci[0]), _round(self.ci[1])],
            "then": _round(self.then),
            "now": _round(self.now),
            "significant": significant,
            "beyond_tolerance": self.beyond_tolerance,
        }


@dataclass
class Evidence:
    """Everything known about one case × model so far: its tests, and how it split on its checks."""

    tests: list[Comparison]
    samples: int
    baseline_samples: int
    flaky: list[str]  # "<check> split 3/5 in the baseline" and the like
    best_possible_p: float  # the smallest case p-value these sample sizes could give: above alpha is "too few"
    calls_if_fixed: int | None = None

    @property
    def p_value(self) -> float:
        return min((t.adjusted_p for t in self.tests), default=1.0)

    def futile(self) -> bool:
        """No test is anywhere near drift at this look: an adaptive case may stop as stable. Never at the first
        look: two clean samples out of a half-drifted model are too likely to end the search."""
        return all(len(t.p_looks) > 1 and t.p_looks[-1] > FUTILITY_P for t in self.tests)


def measure(
    entry: GoldenEntry, calls: Sequence[Call], checks: Sequence[Sequence[CheckResult]], similar: Any
) -> list[Sample]:
    """Today's samples as the tests see them. `similar(a, b)` is the similarity the baseline was scored with."""
    return [
        Sample(
            similarity=similar(entry.output, call.text),
            passed=passed_by_label(results),
            latency_ms=call.latency_ms if call.timed else None,
            ttft_ms=call.ttft_ms if call.timed else None,
        )
        for call, results in zip(calls, checks)
    ]


def planned_tests(
    entry: GoldenEntry, labels: Sequence[str], latency_tolerance: float | None, streams: bool = False
) -> list[str]:
    """The tests a case gets, fixed before any sample is seen (the Bonferroni factor must not depend on data)."""
    names = ["similarity"] + [f"pass rate of {label}" for label in labels if label in entry.checks]
    if latency_tolerance is not None and len(entry.latencies) >= 2:
        names.append("latency")
    if latency_tolerance is not None and streams and len(entry.ttfts) >= 2:
        names.append("time to first token")
    return names


def weigh(
    entry: GoldenEntry,
    samples: Sequence[Sample],
    names: Sequence[str],
    settings: DriftSettings,
    latency_tolerance: float | None,
    previous: Evidence | None = None,
    weights: list[float] | None = None,
    most_samples: int | None = None,
) -> Evidence:
    """The evidence after one more look at `samples` (all of today's samples so far). An adaptive case
    passes its looks' `weights` and the `most_samples` it may take."""
    k = len(names)
    tests = []
    for name in names:
        test = _test(name, entry, samples, settings, latency_tolerance)
        old = next((t for t in previous.tests if t.name == name), None) if previous else None
        test.p_looks = (old.p_looks if old else []) + test.p_looks
        adjusted = [min(1.0, k * p) for p in test.p_looks]
        test.adjusted_p = multiple.sequential_p(adjusted, weights) if weights else adjusted[-1]
        last_weight = weights[len(test.p_looks) - 1] if weights else 1.0
        test.p_better = min(1.0, k * test.p_better / last_weight)
        tests.append(test)
    # The smallest p-value this design could give: with every sample it may take, at its last look.
    best = (
        k * stats.min_rank_p(len(entry.similarities), most_samples or len(samples)) / (weights[-1] if weights else 1.0)
    )
    return Evidence(
        tests=tests,
        samples=len(samples),
        baseline_samples=len(entry.samples),
        flaky=_splits(entry, samples),
        best_possible_p=min(1.0, best),
    )


def _test(
    name: str, entry: GoldenEntry, samples: Sequence[Sample], settings: DriftSettings, latency_tolerance: float | None
) -> Comparison:
    if name == "similarity":
        then, now = entry.similarities, [s.similarity for s in samples]
        worse = stats.rank_test(then, now, "less")
        tolerance = settings.similarity_tolerance
        # Beyond the tolerance: lower by more than it, and the typical sample now below every baseline sample
        # less it (the calibrated bar). The baseline is one draw of the model's spread, and its similarities
        # share its canonical output, so a modest shift within that spread is not called drift.
        beyond = worse.effect < -tolerance and median(now) < min(then) - tolerance
        return Comparison(
            name,
            "similarity",
            median(then),
            median(now),
            worse.effect,
            (worse.ci_low, worse.ci_high),
            beyond_tolerance=beyond,
            better_beyond=False,
            p_looks=[worse.p_value],
        )
    if name in ("latency", "time to first token"):
        first_token = name != "latency"
        then = entry.ttfts if first_token else entry.latencies
        now = [v for v in ((s.ttft_ms if first_token else s.latency_ms) for s in samples) if v is not None]
        if len(now) < 2:
            return Comparison(name, "ms", stats.p95(then), math.nan, 1.0, (0.0, math.inf), False, False, [1.0])
        slower = stats.rank_test(then, now, "greater")
        faster = stats.rank_test(then, now, "less")
        ratio, low, high = stats.bootstrap_ratio(then, now)
        assert latency_tolerance is not None
        return Comparison(
            name,
            "ms",
            stats.p95(then),
            stats.p95(now),
            ratio,
            (low, high),
            beyond_tolerance=ratio > 1 + latency_tolerance,
            better_beyond=ratio < 1 / (1 + latency_tolerance),
            p_looks=[slower.p_value],
            p_better=faster.p_value,
        )
    label = name.removeprefix("pass rate of ")
    passes_then, n_then = entry.passes(label), len(entry.samples)
    passes_now, n_now = sum(s.passed.get(label, True) for s in samples), len(samples)
    worse = stats.fisher_exact(passes_then, n_then, passes_now, n_now, "less")
    better = stats.fisher_exact(passes_then, n_then, passes_now, n_now, "greater")
    tolerance = settings.pass_rate_tolerance
    return Comparison(
        name,
        "rate",
        passes_then / n_then,
        passes_now / n_now,
        worse.effect,
        (worse.ci_low, worse.ci_high),
        beyond_tolerance=worse.effect < -tolerance,
        better_beyond=worse.effect > tolerance,
        p_looks=[worse.p_value],
        p_better=better.p_value,
    )


def _splits(entry: GoldenEntry, samples: Sequence[Sample]) -> list[str]:
    """The checks a case disagrees with itself on: some samples pass, some fail, then or now."""
    found = []
    for label in entry.checks:
        then = entry.passes(label)
        if 0 < then < len(entry.samples):
            found.append(f"{label} passed {then}/{len(entry.samples)} baseline samples")
        now = sum(s.passed.get(label, True) for s in samples)
        if 0 < now < len(samples):
            found.append(f"{label} passed {now}/{len(samples)} samples now")
    return found


def decide(evidence: Evidence, cutoff: float | None, family: int, settings: DriftSettings) -> dict[str, Any]:
    """The verdict record of a case (`CaseResult.verdict`). `cutoff` is the Benjamini–Hochberg bound the
    case met (None when it was not rejected); `family` how many cases the run tests at this alpha."""
    strict_cutoff = settings.alpha / family
    significant = {t.name for t in evidence.tests if cutoff is not None and t.adjusted_p <= cutoff}
    moved = [t for t in evidence.tests if t.name in significant and t.beyond_tolerance]
    better = [t for t in evidence.tests if t.p_better <= strict_cutoff and t.better_beyond]
    if moved:
        verdict, reasons = "drifted", [t.describe(evidence.samples, evidence.baseline_samples) for t in moved]
    elif better:
        verdict, reasons = "improved", [t.describe(evidence.samples, evidence.baseline_samples) for t in better]
    elif evidence.flaky:
        verdict, reasons = "flaky", [f"the case disagrees with itself: {'; '.join(evidence.flaky)}"]
    elif evidence.best_possible_p > settings.alpha:
        verdict = "inconclusive"
        reasons = [
            f"too few samples to tell: {evidence.baseline_samples} baseline vs {evidence.samples} samples cannot "
            f"reach p <= {settings.alpha:g} (best possible {_p(evidence.best_possible_p)}); sample more "
            "(repeat: auto, or a larger repeat) or record a larger baseline (baseline_samples)"
        ]
    else:
        verdict, reasons = "stable", []
    fails = verdict == "drifted" or (verdict in ("flaky", "inconclusive") and getattr(settings, verdict) == "fail")
    return {
        "verdict": verdict,
        "fails": fails,
        "alpha": settings.alpha,
        "family": family,
        "p_value": _round(evidence.p_value),
        "samples": evidence.samples,
        "baseline_samples": evidence.baseline_samples,
        "calls_if_fixed": evidence.calls_if_fixed,
        "tests": [t.to_dict(t.name in significant) for t in evidence.tests],
        "reasons": reasons,
    }


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 0.0001 else f"{value:.1e}"


def _round(value: float) -> float | None:
    """Four significant digits; None for what JSON cannot carry (an unbounded interval, a missing figure)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.4g}")
