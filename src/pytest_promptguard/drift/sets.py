"""Today's samples of a case against its baseline's samples, as sets: the case-level drift test.

A model at temperature > 0 answers with a spread of paraphrases, so "how similar is today's answer to one
canonical output" confuses a rare paraphrase with drift and misses a refusal in half the answers. Here the
question is whether today's samples are explained by the baseline's samples, measured by a *drift score* in
similarity points, the sum of three parts:

- novelty: how much less similar today's samples are to their nearest baseline sample than baseline samples
  are to their nearest other baseline sample (leave one out): a refusal, a bullet list or a dropped sentence
  is far from every baseline sample even when the other samples are unchanged;
- shift / 2: the kernel two-sample statistic MMD^2 = E s(B,B') + E s(T,T') - 2 E s(B,T) on the similarity
  (cf. Gao et al., "Model Equality Testing", ICLR 2025): the same answers in new proportions (a rare
  paraphrase now common). It counts the cross term twice, hence half of it, on the novelty's scale;
- checks: the largest rise of a check's failure share (in points: 100 x share), when checks are given.

The p-value comes from permuting the baseline/today labels (`permutation`), exact when the splits are few.
Why this sum (benchmarks/score_choice.py: 10 baseline vs 20 new samples, 96 cases per scenario, share with
p <= 0.01 for content / format / subtle / refusals / a reweighted mix): novelty alone 26 / 31 / 59 / 76 / 16%,
MMD alone 5 / 2 / 22 / 53 / 40%, the max of the two standardised by their permutation spread 7 / 7 / 29 / 56 /
36%, this score 28 / 26 / 59 / 75 / 27%: about novelty's power on new behaviours, a third of MMD's gain on
reweighted answers.

The drift score is also the case's contribution to the run-level test (`pooled`): points keep a refusal
(~60 points) apart from an unusual paraphrase (~10) when one sample per case is all there is, where
standardised scores would make them alike.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from statistics import fmean, median

from .features import Features
from .permutation import (
    EXACT_SPLITS,
    TIE,
    Split,
    all_splits,
    getter,
    monte_carlo_p,
    random_splits,
    split_count,
)

DRAWS = 1000  # random splits per test: the run-level test's resolution is 1 / (DRAWS + 1)
MIN_DRAWS = 100  # random splits at least, for the expected parts (the effect) when no run-level draws are asked
EXCEEDANCES = 20  # Besag-Clifford: stop drawing once this many splits score at least the observed one
LENGTH_MOVE = 1.25  # a median length (characters, tokens, lines) that grew or shrank by this factor moved
SHARE_MOVE = 0.2  # a share of samples (lists, JSON, refusals, a check's failures) that changed by this moved


@dataclass(frozen=True)
class Parts:
    """The drift score's parts for one split, in similarity points."""

    novelty: float
    shift: float
    checks: float

    @property
    def score(self) -> float:
        return _score((self.novelty, self.shift, self.checks))


@dataclass(frozen=True)
class Move:
    """One feature then and now: a median (chars, tokens, lines) or a share of samples (lists, refusals, the
    failures of a check)."""

    name: str
    then: float
    now: float
    moved: bool


@dataclass(frozen=True)
class Representative:
    """The new sample that best stands for the change, and how many samples look like it: closer to it than
    to any baseline sample (new samples), or than to any other baseline sample (baseline samples)."""

    index: int  # into today's samples
    alike_now: int
    alike_then: int
    samples: int
    baseline_samples: int

    def describe(self) -> str:
        then = (
            "no baseline sample did"
            if not self.alike_then
            else f"{self.alike_then} of {self.baseline_samples} baseline samples did"
        )
        return f"{self.alike_now} of {self.samples} samples now look like this; {then}"


@dataclass(frozen=True)
class Effect:
    """How far today's samples are from the baseline's, in terms a reviewer reads."""

    # new samples less similar to every baseline sample than the baseline's least typical one, less the tolerance
    novel: int
    samples: int
    baseline_samples: int
    nearest_then: float  # median similarity of a baseline sample to its nearest other baseline sample
    nearest_now: float  # median similarity of a new sample to its nearest baseline sample
    moves: tuple[Move, ...]

    @property
    def novel_share(self) -> float:
        return self.novel / self.samples if self.samples else 0.0


@dataclass(frozen=True)
class SetTest:
    """The case-level test of one look. `excess` (observed minus the mean over splits) is the effect the
    tolerance applies to; `draws` are the score over random splits, for the run-level test."""

    p_value: float
    observed: Parts
    expected: Parts  # mean over the splits: what resampling alone gives
    exact: bool
    splits: int  # splits counted for the p-value
    draws: tuple[float, ...]
    effect: Effect
    representative: Representative | None

    @property
    def excess(self) -> float:
        return self.observed.score - self.expected.score

    @property
    def floored(self) -> bool:
        """No random split scored as high as the observed one: the p-value is the smallest these draws allow,
        and asking again with a finer `finest_p` (the same seed) is valid: the first call's draws are the start
        of the second's, and a p-value refined only when the first found no exceedance is still a p-value."""
        return not self.exact and self.splits > 0 and self.p_value == monte_carlo_p(0, self.splits)


class _Scorer:
    """The drift score's parts for any split of one precomputed similarity matrix. Everything in the inner
    loop is a C-level gather (itemgetter), max or sum over a row, and a split's parts come back as a plain
    tuple: about 20 us a split at 10 + 20 samples."""

    def __init__(self, matrix: Sequence[Sequence[float]], failed: Sequence[Collection[str]] | None) -> None:
        # For nearest neighbours a sample is never its own: its diagonal entry is -inf.
        self.nearest_rows = [
            tuple(-math.inf if i == j else v for j, v in enumerate(row)) for i, row in enumerate(matrix)
        ]
        self.rows = [tuple(row) for row in matrix]
        self.row_sums = tuple(sum(row) for row in matrix)
        self.total = sum(self.row_sums)
        labels = sorted({label for sample in failed or () for label in sample})
        self.fails = [tuple(float(label in sample) for sample in failed or ()) for label in labels]

    def nearest(self, baseline: Sequence[int]) -> list[float]:
        """Every sample's similarity to its nearest baseline sample (other than itself)."""
        return list(map(max, map(getter(baseline), self.nearest_rows)))

    def __call__(self, split: Split) -> tuple[float, float, float]:
        """(novelty, shift, checks) of the split."""
        baseline, new = split
        nb, nt = len(baseline), len(new)
        take_b, take_t = getter(baseline), getter(new)
        nearest = list(map(max, map(take_b, self.nearest_rows)))
        novelty = sum(take_b(nearest)) / nb - sum(take_t(nearest)) / nt
        # MMD^2 from one block sum over the smaller group: the row totals give the other two blocks.
        sum_t = sum(take_t(self.row_sums))
        if nt <= nb:
            tt = sum(map(sum, map(take_t, take_t(self.rows))))
            bt = sum_t - tt
            bb = self.total - tt - 2.0 * bt
        else:
            bb = sum(map(sum, map(take_b, take_b(self.rows))))
            bt = self.total - sum_t - bb
            tt = self.total - bb - 2.0 * bt
        shift = bb / (nb * nb) + tt / (nt * nt) - 2.0 * bt / (nb * nt)
        checks = max((100.0 * (sum(take_t(f)) / nt - sum(take_b(f)) / nb) for f in self.fails), default=0.0)
        return novelty, shift, checks


def _score(parts: tuple[float, float, float]) -> float:
    """The drift score of (novelty, shift, checks): MMD^2 counts the cross term twice, so half of it."""
    return parts[0] + parts[1] / 2.0 + parts[2]


def compare_sets(
    matrix: Sequence[Sequence[float]],
    n_baseline: int,
    failed: Sequence[Collection[str]] | None = None,
    figures: Sequence[Features] | None = None,
    seed: int | str = 0,
    draws: int = DRAWS,
    finest_p: float = 1e-3,
    tolerance: float = 5.0,
) -> SetTest:
    """Test whether the samples after the first `n_baseline` (today's) drifted from those (the baseline's).

    `matrix`: the pooled samples' pairwise similarities (0-100, `similarity.similarity_matrix`); `failed`:
    per sample, the labels of the checks it failed; `figures`: per sample, its features (for the effect's
    moves). The p-value is exact when the splits number at most EXACT_SPLITS; else it is a Monte Carlo
    p-value by Besag and Clifford's sequential rule (draw until EXCEEDANCES splits score at least the
    observed, or until the p-value could reach `finest_p`), valid wherever it stops. `seed` (say the case's
    id and the look) makes the draws reproducible; `tolerance` (points) defines a novel sample.
    """
    total = len(matrix)
    n_new = total - n_baseline
    if n_baseline < 2 or n_new < 1:
        raise ValueError(f"need at least 2 baseline samples and 1 new sample, got {n_baseline} and {n_new}")
    scorer = _Scorer(matrix, failed)
    observed = scorer((range(n_baseline), range(n_baseline, total)))
    rng = random.Random(f"sets/{seed}")
    if split_count(n_baseline, n_new) <= EXACT_SPLITS:
        parts = [scorer(split) for split in all_splits(n_baseline, n_new)]
        scores = list(map(_score, parts))
        p_value = sum(s >= _score(observed) - TIE for s in scores) / len(scores)
        exact, counted, pool = True, len(scores), tuple(rng.choices(scores, k=draws))
    else:
        parts, p_value, counted = _draw(scorer, _score(observed), n_baseline, n_new, rng, draws, finest_p)
        exact, pool = False, tuple(map(_score, parts[:draws]))
    nearest = scorer.nearest(range(n_baseline))
    return SetTest(
        p_value=p_value,
        observed=Parts(*observed),
        expected=Parts(*map(fmean, zip(*parts))),
        exact=exact,
        splits=counted,
        draws=pool,
        effect=_effect(nearest, n_baseline, failed, figures, tolerance),
        representative=_representative(matrix, nearest, n_baseline),
    )


def _draw(
    scorer: _Scorer, observed: float, n_baseline: int, n_new: int, rng: random.Random, draws: int, finest_p: float
) -> tuple[list[tuple[float, float, float]], float, int]:
    """Random splits, with the sequential p-value: at least `draws` (for the run-level test) and MIN_DRAWS
    (for the expected parts), and on while the p-value is still small. Returns the parts drawn, the p-value
    and the splits it counted."""
    most = max(draws, MIN_DRAWS, math.ceil(2.0 / finest_p))
    least = max(draws, MIN_DRAWS)
    parts = []
    exceeding, p_value, counted = 0, None, most
    for j, split in enumerate(random_splits(n_baseline, n_new, rng, most), start=1):
        drawn = scorer(split)
        parts.append(drawn)
        if _score(drawn) >= observed - TIE:
            exceeding += 1
            if exceeding == EXCEEDANCES and p_value is None:
                p_value, counted = EXCEEDANCES / j, j
        if p_value is not None and j >= least:
            break
    if p_value is None:
        p_value = monte_carlo_p(exceeding, most)
    return parts, p_value, counted


def _effect(
    nearest: Sequence[float],
    n_baseline: int,
    failed: Sequence[Collection[str]] | None,
    figures: Sequence[Features] | None,
    tolerance: float,
) -> Effect:
    then, now = nearest[:n_baseline], nearest[n_baseline:]
    bar = min(then) - tolerance
    return Effect(
        novel=sum(v < bar for v in now),
        samples=len(now),
        baseline_samples=n_baseline,
        nearest_then=median(then),
        nearest_now=median(now),
        moves=tuple(_moves(n_baseline, failed, figures)),
    )


def _moves(n_baseline: int, failed: Sequence[Collection[str]] | None, figures: Sequence[Features] | None) -> list[Move]:
    """Each feature's median or share, then and now."""
    moves = []
    if figures:
        then, now = figures[:n_baseline], figures[n_baseline:]
        for name in ("chars", "tokens", "lines"):
            a, b = median(getattr(f, name) for f in then), median(getattr(f, name) for f in now)
            ratio = b / a if a else (1.0 if not b else math.inf)
            moves.append(Move(name, a, b, not 1 / LENGTH_MOVE < ratio < LENGTH_MOVE))
        for name in ("listed", "markdown", "json", "refusal"):
            a, b = fmean(getattr(f, name) for f in then), fmean(getattr(f, name) for f in now)
            moves.append(Move(name, a, b, abs(b - a) >= SHARE_MOVE))
    if failed:
        for label in sorted({label for sample in failed for label in sample}):
            a = fmean(label in s for s in failed[:n_baseline])
            b = fmean(label in s for s in failed[n_baseline:])
            moves.append(Move(f"fails {label}", a, b, abs(b - a) >= SHARE_MOVE))
    return moves


def _representative(
    matrix: Sequence[Sequence[float]], nearest: Sequence[float], n_baseline: int
) -> Representative | None:
    """The new sample with the most new look-alikes net of baseline look-alikes (shares); None when every new
    sample has a baseline sample at least as close as any new one (nothing new to show)."""
    total = len(matrix)
    n_new = total - n_baseline
    best, best_key = None, None
    for j in range(n_baseline, total):
        row = matrix[j]
        alike_now = sum(row[i] > nearest[i] for i in range(n_baseline, total))
        alike_then = sum(row[i] > nearest[i] for i in range(n_baseline))
        key = (alike_now / n_new - alike_then / n_baseline, -nearest[j])
        if alike_now and (best_key is None or key > best_key):
            best, best_key = Representative(j - n_baseline, alike_now, alike_then, n_new, n_baseline), key
    return best
