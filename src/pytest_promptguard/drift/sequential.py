"""Looks of `repeat: auto`: sample a case in rounds, stop quiet cases early, judge drift at the last look.

Interim looks only ever stop a case for futility (no evidence of drift), never for drift: with 12 cases at
alpha 0.01 a case must reach p <= 0.01 / 2 / 12 / (tests) at its own look, and an early look that spent a
share w of it would need p <= 2e-5 x w at 8 samples, which 10 + 8 samples cannot give (the best possible p
is 1 / C(18, 8) = 2.3e-5). So the whole alpha is kept for the last look, and futility needs no alpha at all:
stopping a case as stable can only remove rejections, so P(false alarm) <= P(p at the last look <= t) <= t
whatever the futility rule is. What futility costs is power (a drifted case stopped early), which
benchmarks/sim_drift.py measures against a fixed number of samples.

The rule: once a case has FUTILITY_SAMPLES samples, stop when the look's p-value exceeds FUTILITY_P and no
new sample is novel (unlike every baseline sample). Drift that shows as a new behaviour in a share q of the
answers survives a look of n samples with probability at least 1 - (1 - q)^n (q = 0.5: 94% at 4 samples),
whatever its p. Two samples are too few to stop on: a case half of whose answers drifted shows none in
them a quarter of the time.

The suite-level tests (`pooled`, `latency.suite_latency`) use every case's first `pooling` samples, the size
of the first look at which a case may stop: every case has them, and which cases continued (a choice made
on their own evidence) cannot bias the pooled statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import multiple

FUTILITY_P = 0.2
FUTILITY_SAMPLES = 4


@dataclass(frozen=True)
class Looks:
    sizes: tuple[int, ...]  # today's samples at each look

    @classmethod
    def auto(cls, minimum: int, maximum: int) -> Looks:
        """minimum, doubling, then maximum (2, 4, 8, 16, 20 by default: multiple.look_sizes)."""
        return cls(tuple(multiple.look_sizes(minimum, maximum)))

    @property
    def pooling(self) -> int:
        """Samples per case for the suite-level tests: the size of the first look a case may stop at."""
        return next((n for n in self.sizes if n >= FUTILITY_SAMPLES), self.sizes[-1])

    def last(self, look: int) -> bool:
        return look >= len(self.sizes) - 1


def futile(samples: int, p_value: float, novel: int) -> bool:
    """Stop a case as stable at a look of `samples` samples: from FUTILITY_SAMPLES on, when its p-value
    exceeds FUTILITY_P and none of its new samples is novel."""
    return samples >= FUTILITY_SAMPLES and p_value > FUTILITY_P and novel == 0
