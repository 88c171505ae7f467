"""Run-level evidence: one test per suite x model that pools its cases' drift scores.

A model update moves many prompts at once, each a little: twelve cases that each look a bit off are strong
evidence together even when none is alone, and at one sample per case a lone sample can never reach alpha
(its p-value is at least 1 / (n_baseline + 1)). The pooled statistic is the sum of the cases' drift scores
(`sets`, in similarity points); its null distribution comes from permuting every case's labels
independently, which is exactly what "nothing changed in any case" allows. The b-th draw of every case is one
joint draw, so the pooled p-value is (1 + #joint draws at least the observed sum) / (draws + 1), valid for any
number of cases and samples. Summing points rather than p-values lets a refusal (a case 60 points off) weigh
more than an unusual paraphrase (10 points) where both reach the same smallest p-value of a lone sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .permutation import TIE, monte_carlo_p
from .sets import SetTest


@dataclass(frozen=True)
class Contribution:
    case: str
    excess: float  # the case's drift score less its mean over splits, in points
    p_value: float  # the case's own p-value at this look


@dataclass(frozen=True)
class PooledTest:
    p_value: float
    excess: float  # the summed score less its mean over splits, in points
    contributions: tuple[Contribution, ...]  # largest excess first

    def leading(self, count: int = 3) -> list[str]:
        """The cases that contribute most (a positive excess), to name in the suite verdict."""
        return [c.case for c in self.contributions[:count] if c.excess > 0]


def pool(tests: Mapping[str, SetTest]) -> PooledTest:
    """The run-level test of the cases' set tests (each from the same number of draws)."""
    if not tests:
        return PooledTest(1.0, 0.0, ())
    sizes = {len(t.draws) for t in tests.values()}
    if len(sizes) != 1:
        raise ValueError(f"every case needs the same number of draws, got {sorted(sizes)}")
    observed = sum(t.observed.score for t in tests.values())
    joint = [sum(column) for column in zip(*(t.draws for t in tests.values()))]
    exceeding = sum(s >= observed - TIE for s in joint)
    contributions = sorted(
        (Contribution(case, t.excess, t.p_value) for case, t in tests.items()), key=lambda c: -c.excess
    )
    return PooledTest(
        p_value=monte_carlo_p(exceeding, len(joint)),
        excess=observed - sum(t.expected.score for t in tests.values()),
        contributions=tuple(contributions),
    )
