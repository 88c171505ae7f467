"""What a case's test could have seen: power in the open, computed in closed form from the sample sizes.

A verdict of `stable` means little without what the test could detect. Two figures, at 80% power:

- a new behaviour: the smallest share q of answers showing something no baseline sample showed (a refusal,
  a JSON wrapper) that the test finds. With X ~ Binomial(n_new, q) such samples, the best a permutation test
  can say is that all X landed among today's samples by chance: p = C(n_new, X) / C(n_total, X) (Fisher's
  exact test of 0 of n_baseline against X of n_new). The figure is the q at which P(p <= alpha) = 80%.
  The set test does at least this well when the new samples are far from every baseline sample
  (tests/test_drift_power.py checks it by simulation).
- a similarity loss: the smallest drop (points) of every new sample's similarity to the baseline's samples
  that the test finds: (z_{1-alpha} + z_{power}) x spread x sqrt(1/n_baseline + 1/n_new), with `spread` the
  standard deviation of the baseline's pairwise similarities (`baseline_spread`). A normal approximation,
  chosen conservative: the scale of the nearest-neighbour similarities alone (often 100, a repeated answer)
  made it optimistic, and a permutation test's null widens with the loss itself. Measured by simulation
  (tests/test_drift_power.py; benchmarks/power_baseline.py) on a heavy-tailed mixture and two noise models,
  the test found the reported loss 82-100% of the time at n_baseline 5-20, n_new 4-20, alpha 0.001-0.05.

`best_possible_p` is the smallest p-value the design can give; above alpha the verdict is `inconclusive`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist, pstdev

from .permutation import EXACT_SPLITS, split_count
from .sets import DRAWS, MIN_DRAWS

POWER = 0.8


def best_possible_p(n_baseline: int, n_new: int, finest_p: float = 1e-3, draws: int = DRAWS) -> float:
    """The smallest p-value `sets.compare_sets` can return for these sizes (called with these arguments)."""
    if n_baseline < 1 or n_new < 1:
        return 1.0
    splits = split_count(n_baseline, n_new)
    if splits <= EXACT_SPLITS:
        return 1.0 / splits
    most = max(draws, MIN_DRAWS, math.ceil(2.0 / finest_p))
    return max(1.0 / splits, 1.0 / (most + 1))


def _binomial_tail(n: int, q: float, at_least: int) -> float:
    return sum(math.comb(n, x) * q**x * (1 - q) ** (n - x) for x in range(at_least, n + 1))


@lru_cache(maxsize=1024)
def detectable_share(n_baseline: int, n_new: int, alpha: float, power: float = POWER) -> float | None:
    """The smallest share of answers with a new behaviour found with `power` at level `alpha`; None when even
    every answer changing would not reach alpha."""
    total = n_baseline + n_new
    needed = next((x for x in range(1, n_new + 1) if math.comb(n_new, x) / math.comb(total, x) <= alpha), None)
    if needed is None:
        return None
    low, high = 0.0, 1.0
    for _ in range(40):  # bisection: the tail grows with q
        mid = (low + high) / 2.0
        low, high = (mid, high) if _binomial_tail(n_new, mid, needed) < power else (low, mid)
    return high


def baseline_spread(matrix: Sequence[Sequence[float]], n_baseline: int) -> float:
    """The standard deviation of the baseline samples' pairwise similarities (0 for fewer than 3 samples)."""
    pairs = [matrix[i][j] for i in range(n_baseline) for j in range(i + 1, n_baseline)]
    return pstdev(pairs) if len(pairs) > 1 else 0.0


def detectable_loss(n_baseline: int, n_new: int, alpha: float, spread: float, power: float = POWER) -> float | None:
    """The smallest similarity loss (points) of every new sample found with about `power` (see above);
    `spread`: `baseline_spread`. None when the design cannot reach alpha at all."""
    if best_possible_p(n_baseline, n_new, alpha) > alpha:
        return None
    normal = NormalDist()
    z = normal.inv_cdf(1.0 - alpha) + normal.inv_cdf(power)
    return z * spread * math.sqrt(1.0 / n_baseline + 1.0 / n_new)


@dataclass(frozen=True)
class Power:
    """What a case's test could detect with 80% power, and whether it could reach alpha at all."""

    n_baseline: int
    n_new: int
    alpha: float
    best_p: float
    share: float | None
    loss: float | None

    @property
    def inconclusive(self) -> bool:
        return self.best_p > self.alpha

    def describe(self) -> str:
        sizes = f"with {_count(self.n_baseline, 'baseline sample')} and {_count(self.n_new, 'new sample')}"
        if self.inconclusive or self.share is None:
            return f"{sizes} this case cannot reach p <= {self.alpha:g} (best possible p = {self.best_p:.2g})"
        loss = f", or a similarity loss >= {self.loss:.0f} points" if self.loss is not None else ""
        return (
            f"{sizes} this case would detect a new behaviour in >= {self.share:.0%} of answers{loss}, "
            f"with {POWER:.0%} power"
        )


def case_power(n_baseline: int, n_new: int, alpha: float, spread: float) -> Power:
    """The power figures of one case at the level it is tested at (the bound its p-value must meet, which is
    also the `finest_p` its set test is run with)."""
    return Power(
        n_baseline,
        n_new,
        alpha,
        best_possible_p(n_baseline, n_new, alpha),
        detectable_share(n_baseline, n_new, alpha),
        detectable_loss(n_baseline, n_new, alpha, spread),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
