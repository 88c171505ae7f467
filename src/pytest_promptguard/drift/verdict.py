"""A judged case's samples as the tests see them, and the verdict records the reports read.

The baseline's samples (their texts, kept in the golden entry) and today's are pooled: their features, the
checks each failed, their latencies, and the similarity matrix of all of them, grown look by look so that a
look scores only its new samples. The tests themselves are in `verdicts` (one look at a case, at a suite x
model, the run's error control); this module turns what they say into the dicts that ride on a CaseResult
(`verdict`) and on a suite's drift item.
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
from .features import Features, features
from .power import baseline_spread, case_power
from .sequential import FUTILITY_P
from .similarity import similarity_matrix
from .verdicts import SUITE_SHARE, CaseLook, Decision, Finding, SuiteLook, Tolerances, family_bound


@dataclass
class CaseSamples:
    """The baseline's samples first, then today's, growing look by look."""

    n_baseline: int
    texts: list[str]
    figures: list[Features]
    failed: list[frozenset[str]]
    latencies_then: list[float]
    latencies_now: list[float] = field(default_factory=list)
    matrix: list[list[float]] = field(default_factory=list)

    @classmethod
    def of_baseline(cls, entry: GoldenEntry, texts: Sequence[str]) -> CaseSamples:
        figures = [features(t) for t in texts]
        return cls(
            n_baseline=len(texts),
            texts=list(texts),
            figures=figures,
            failed=[frozenset(s.failed) for s in entry.samples],
            latencies_then=[s.latency_ms for s in entry.samples if s.latency_ms > 0],
            matrix=similarity_matrix(texts, figures),
        )

    @property
    def n_new(self) -> int:
        return len(self.texts) - self.n_baseline

    def add(self, calls: Sequence[Call], checks: Sequence[Sequence[CheckResult]]) -> None:
        """Today's new samples: their texts, features and failed checks; their latency when it was timed."""
        texts = [c.text for c in calls]
        self.texts += texts
        self.figures += [features(t) for t in texts]
        self.failed += [frozenset(k for k, ok in passed_by_label(r).items() if not ok) for r in checks]
        self.latencies_now += [c.latency_ms for c in calls if c.timed and c.latency_ms > 0]
        self.matrix = similarity_matrix(self.texts, self.figures, known=self.matrix)

    def latencies(self) -> tuple[list[float], list[float]] | None:
        """(then, now) when both sides have timed samples to compare."""
        return (self.latencies_then, self.latencies_now) if self.latencies_then and self.latencies_now else None


def tolerances(similarity: float, latency: float | None) -> Tolerances:
    return Tolerances(similarity=similarity, latency=latency)


def case_record(
    look: CaseLook,
    decision: Decision | None,
    samples: CaseSamples,
    alpha: float,
    family: int,
    stopped: bool,
    calls_if_fixed: int | None,
    flaky: str,
    latency_tolerance: float | None,
    settings: DriftSettings,
) -> dict[str, Any]:
    """The verdict record of a case (`CaseResult.verdict`). `decision` is None for a case stopped early for
    futility (it left the run's error control: it is stable by construction); `stopped` says so."""
    tests = len(look.findings)
    power = case_power(samples.n_baseline, samples.n_new, family_bound(alpha, tests), _spread(samples))
    failing = decision.failing if decision else ()
    significant = decision.significant if decision else ()
    latency = look.latency
    # Faster beyond the tolerance, at the bound of a lone rejection (improvements are not in the FDR family).
    improved = (
        latency is not None
        and latency_tolerance is not None
        and tests * latency.p_faster <= alpha * (1 - SUITE_SHARE) / max(family, 1)
        and latency.ratio < 1 / (1 + latency_tolerance)
    )
    if failing:
        verdict, reasons = "drifted", [f.summary for f in failing]
    elif improved:
        verdict, reasons = "improved", [latency.describe()] if latency else []
    elif flaky:
        verdict, reasons = "flaky", [f"the case disagrees with itself: {flaky}"]
    elif stopped:
        verdict = "stable"
        reasons = [
            f"stopped after {samples.n_new} samples: none unlike every baseline sample, p > {FUTILITY_P:g} "
            f"(repeat: auto saved {calls_if_fixed - samples.n_new if calls_if_fixed else 0} calls)"
        ]
    elif power.inconclusive:
        verdict = "inconclusive"
        reasons = [f"{power.describe()}: it is judged with its suite (the suite's drift item pools its cases)"]
    else:
        verdict, reasons = "stable", []
    representative = look.text.representative
    shown = samples.texts[samples.n_baseline + representative.index] if representative else None
    record: dict[str, Any] = {
        "verdict": verdict,
        "fails": bool(failing) or (verdict in ("flaky", "inconclusive") and getattr(settings, verdict) == "fail"),
        "alpha": alpha,
        "family": family,
        "p_value": _round(look.p_value),
        "samples": samples.n_new,
        "baseline_samples": samples.n_baseline,
        "calls_if_fixed": calls_if_fixed,
        "tests": [_test_record(f, look, samples, f in significant) for f in look.findings],
        "reasons": reasons,
        "power": power.describe(),
        "novel": look.text.effect.novel,
        "moved": [_moved(m.name, m.then, m.now) for m in look.text.effect.moves if m.moved],
    }
    if shown is not None and representative is not None:
        record["representative"] = {"text": shown, "alike": representative.describe()}
        record["nearest_baseline"] = samples.texts[_nearest_baseline(samples, representative.index)]
    return record


def suite_record(look: SuiteLook, decision: Decision, alpha: float, family: int, cases: int) -> dict[str, Any]:
    """The verdict record of a suite x model: its cases' evidence pooled."""
    leading = look.text.leading()
    return {
        "verdict": "drifted" if decision.failing else "stable",
        "fails": bool(decision.failing),
        "alpha": alpha,
        "family": family,
        "p_value": _round(look.p_value),
        "cases": cases,
        "leading": leading,
        "reasons": [f.summary for f in (decision.failing or look.findings)],
        "tests": [
            {
                "name": f.name,
                "p_value": _round(f.p_value),
                "significant": f in decision.significant,
                "beyond_tolerance": f.beyond,
            }
            for f in look.findings
        ],
    }


def splits(entry: GoldenEntry, samples: CaseSamples) -> str:
    """The checks a case disagrees with itself on: some samples pass, some fail, then or now ("" when none)."""
    found = []
    then, now = samples.failed[: samples.n_baseline], samples.failed[samples.n_baseline :]
    for label in entry.checks:
        for when, group in (("baseline samples", then), ("samples now", now)):
            failed = sum(label in f for f in group)
            if 0 < failed < len(group):
                found.append(f"{label} passed {len(group) - failed}/{len(group)} {when}")
    return "; ".join(found)


def _test_record(finding: Finding, look: CaseLook, samples: CaseSamples, significant: bool) -> dict[str, Any]:
    k = len(look.findings)
    if finding.name == "latency" and look.latency is not None:
        latency = look.latency
        then, now = samples.latencies_then, samples.latencies_now
        effect, ci = latency.ratio, [_round(latency.low), _round(latency.high)]
        figures = (median(then) if then else math.nan, median(now) if now else math.nan)
    else:
        effect, ci = look.text.excess, [None, None]
        figures = (look.text.effect.nearest_then, look.text.effect.nearest_now)
    return {
        "name": finding.name,
        "p_value": _round(min(1.0, k * finding.p_value)),
        "effect": _round(effect),
        "ci": ci,
        "then": _round(figures[0]),
        "now": _round(figures[1]),
        "significant": significant,
        "beyond_tolerance": finding.beyond,
    }


def _nearest_baseline(samples: CaseSamples, index: int) -> int:
    row = samples.matrix[samples.n_baseline + index]
    return max(range(samples.n_baseline), key=lambda j: row[j])


def _spread(samples: CaseSamples) -> float:
    return baseline_spread(samples.matrix, samples.n_baseline)


def _moved(name: str, then: float, now: float) -> str:
    """`chars 412 → 298` for a median, `refusal 0% → 50% of samples` for a share."""
    if name in ("chars", "tokens", "lines"):
        return f"{name} {then:g} → {now:g} (median)"
    return f"{name} {then:.0%} → {now:.0%} of samples"


def _round(value: float | None) -> float | None:
    """Four significant digits; None for what JSON cannot carry (an unbounded interval, a missing figure)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.4g}")
