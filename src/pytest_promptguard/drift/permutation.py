"""Label permutations of pooled samples: which samples count as baseline and which as today's.

Under "nothing changed" the baseline's samples and today's are exchangeable, so every split of the pooled
samples into n_baseline and n_new is as likely as the observed one; a statistic's p-value is the share of
splits that score at least as high. That holds for any statistic and any noise, heavy tails included, which
is why every verdict here is calibrated this way. Splits are enumerated when there are few (exact p-values:
a lone new sample against 10 baseline samples has 11 splits, so p >= 1/11), else drawn at random from a
seeded generator, so the same samples always give the same verdict.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter

Split = tuple[Sequence[int], Sequence[int]]  # (baseline indices, new indices) into the pooled samples
Getter = Callable[[Sequence[float]], tuple[float, ...]]

EXACT_SPLITS = 2000  # enumerate every split up to this many (C(14, 4) = 1001: 10 baseline + 4 new samples)
TIE = 1e-9  # scores this close count as equal: float sums of one split come out in different orders


def getter(indices: Sequence[int]) -> Getter:
    """A C-level gather of `indices` from a row (itemgetter), always returning a tuple."""
    if len(indices) == 1:
        only = indices[0]
        return lambda row: (row[only],)
    return itemgetter(*indices)


def split_count(n_baseline: int, n_new: int) -> int:
    return math.comb(n_baseline + n_new, n_new)


def all_splits(n_baseline: int, n_new: int) -> Iterator[Split]:
    """Every split, each once."""
    total = n_baseline + n_new
    for new in itertools.combinations(range(total), n_new):
        chosen = set(new)
        yield [i for i in range(total) if i not in chosen], new


def random_splits(n_baseline: int, n_new: int, rng: random.Random, count: int) -> Iterator[Split]:
    """`count` independent uniform splits. One random key per sample and a sort: several times faster than
    random.shuffle, whose per-element Python calls dominate at these sizes."""
    total = n_baseline + n_new
    indices = range(total)
    draw = rng.random
    for _ in range(count):
        keys = [draw() for _ in indices]
        order = sorted(indices, key=keys.__getitem__)
        yield order[n_new:], order[:n_new]


def monte_carlo_p(exceeding: int, draws: int) -> float:
    """(1 + #draws at least as extreme) / (1 + #draws): the observed split counts as one of the draws, which
    keeps the p-value valid (never below its level under the null) for any number of draws."""
    return (exceeding + 1) / (draws + 1)
