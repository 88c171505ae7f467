"""A candidate model against the current one, case by case: worse, better, changed or the same.

An upgrade is judged with the same tests as drift, asked both ways: each check's pass rate (Fisher's exact
test) and each judge-like score (the rank test) can move either way, and the set test of the texts
(`sets`) says whether the answers changed at all, without a direction. A case's p-value is its smallest
two-sided p-value times its number of tests; the caller applies FDR across cases (multiple.benjamini_hochberg)
and asks `outcome` with the bound a case met.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Literal

from . import stats
from .sets import SetTest

Outcome = Literal["worse", "better", "changed", "same"]


@dataclass(frozen=True)
class Shift:
    """One directional comparison: a check's pass rate or a score, then (current model) and now (candidate)."""

    name: str
    then: float
    now: float
    p_worse: float
    p_better: float

    @property
    def p_value(self) -> float:
        """Two-sided: twice the smaller one-sided p-value."""
        return min(1.0, 2.0 * min(self.p_worse, self.p_better))

    @property
    def direction(self) -> Outcome:
        return "worse" if self.p_worse <= self.p_better else "better"


@dataclass(frozen=True)
class CandidateCase:
    shifts: tuple[Shift, ...]
    texts: SetTest | None  # the candidate's samples against the current model's, when texts are compared

    @property
    def tests(self) -> int:
        return len(self.shifts) + (self.texts is not None)

    @property
    def p_value(self) -> float:
        ps = [s.p_value for s in self.shifts] + ([self.texts.p_value] if self.texts is not None else [])
        return min(1.0, self.tests * min(ps, default=1.0))

    def outcome(self, cutoff: float | None) -> Outcome:
        """`cutoff`: the FDR bound the case met (None: not rejected). Worse wins over better: a regression
        on one check is not offset by a gain on another."""
        if cutoff is None:
            return "same"
        significant = [s for s in self.shifts if min(1.0, self.tests * s.p_value) <= cutoff]
        if any(s.direction == "worse" for s in significant):
            return "worse"
        if significant:
            return "better"
        if self.texts is not None and min(1.0, self.tests * self.texts.p_value) <= cutoff:
            return "changed"
        return "same"


def compare_candidate(
    labels: Sequence[str],
    failed_then: Sequence[Collection[str]],
    failed_now: Sequence[Collection[str]],
    scores_then: Mapping[str, Sequence[float]] | None = None,
    scores_now: Mapping[str, Sequence[float]] | None = None,
    texts: SetTest | None = None,
) -> CandidateCase:
    """`labels`: the checks both models' samples were judged by; `failed_*`: per sample, the labels it failed;
    `scores_*`: judge-like scores by name (higher is better), per sample; `texts`: compare_sets of the
    candidate's samples (as today's) against the current model's (as the baseline)."""
    shifts = []
    n_then, n_now = len(failed_then), len(failed_now)
    for label in labels:
        passes_then = sum(label not in f for f in failed_then)
        passes_now = sum(label not in f for f in failed_now)
        worse = stats.fisher_exact(passes_then, n_then, passes_now, n_now, "less")
        better = stats.fisher_exact(passes_then, n_then, passes_now, n_now, "greater")
        shifts.append(
            Shift(
                f"pass rate of {label}",
                passes_then / max(n_then, 1),
                passes_now / max(n_now, 1),
                worse.p_value,
                better.p_value,
            )
        )
    scores_then, scores_now = scores_then or {}, scores_now or {}
    for name in sorted(set(scores_then) & set(scores_now)):
        then, now = scores_then[name], scores_now[name]
        if not then or not now:
            continue
        worse = stats.rank_test(then, now, "less")
        better = stats.rank_test(then, now, "greater")
        shifts.append(Shift(name, median(then), median(now), worse.p_value, better.p_value))
    return CandidateCase(tuple(shifts), texts)
