"""Coverage of the latency ratio's 95% interval, and false alarms of the latency tests, by simulation.

A true slowdown of x`--ratio` is applied to every call of a case; latencies are lognormal (sigma 0.35), or
heavy-tailed (sigma 0.5 and 10% of calls slowed by a Pareto(1.1) factor), with 5-20 baseline and 5-20 new
samples per case. Printed per setting: how often the interval holds the true ratio (target >= 90%; nominal
95%), and how often the slower-side p-value is <= 0.05 when nothing changed (target <= 5%).

    nice -n 10 python benchmarks/latency_coverage.py
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pytest_promptguard.drift.latency import suite_latency  # noqa: E402


def lognormal(rng: random.Random, median: float, n: int, sigma: float = 0.35) -> list[float]:
    return [median * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


def heavy(rng: random.Random, median: float, n: int) -> list[float]:
    return [v * (rng.paretovariate(1.1) if rng.random() < 0.1 else 1.0) for v in lognormal(rng, median, n, 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--ratio", type=float, default=1.5)
    options = parser.parse_args()
    for shape in (lognormal, heavy):
        for cases in (1, 3, 12):
            for low, high in ((5, 5), (5, 20), (10, 20), (20, 20)):
                rng = random.Random(f"{shape.__name__}/{cases}/{low}/{high}")
                covered = alarms = 0
                widths = []
                for _ in range(options.reps):
                    slowed, same = [], []
                    for _ in range(cases):
                        median = rng.uniform(300, 1500)
                        base = shape(rng, median, rng.randint(low, high))
                        now = shape(rng, median, rng.randint(low, high))
                        slowed.append((base, [options.ratio * v for v in now]))
                        same.append((base, now))
                    test = suite_latency(slowed)
                    covered += test.low <= options.ratio <= test.high
                    widths.append(test.high / test.low if test.low > 0 else math.inf)
                    alarms += suite_latency(same).p_slower <= 0.05
                widths.sort()
                print(
                    f"{shape.__name__:9} {cases:2} cases, {low}-{high} samples each side: coverage "
                    f"{covered / options.reps:.1%}, median interval x{widths[len(widths) // 2]:.2f} wide; "
                    f"false alarms at 0.05: {alarms / options.reps:.1%}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
