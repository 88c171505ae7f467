"""Why the drift score is novelty + shift / 2: per-case power of candidate statistics on the noise model.

For each scenario, cases of `--baseline` baseline samples and `--new` samples today (benchmarks/noise.py) are
tested with the same random splits by each candidate statistic: novelty alone, MMD^2 (shift) alone, the
max of the two standardised by their permutation mean and standard deviation, their plain sum, and the
drift score (novelty + shift / 2). Printed: the share of cases with p <= 0.01 (and <= 0.05).

    nice -n 10 python benchmarks/score_choice.py --nights 8
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from statistics import fmean, pstdev

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from noise import NoiseModel  # noqa: E402

from pytest_promptguard.drift.permutation import monte_carlo_p, random_splits  # noqa: E402
from pytest_promptguard.drift.sets import _Scorer  # noqa: E402
from pytest_promptguard.drift.similarity import similarity_matrix  # noqa: E402

CANDIDATES = ("novelty", "shift", "max z", "sum", "drift score")


def p_values(matrix: list[list[float]], n_baseline: int, draws: int, rng: random.Random) -> dict[str, float]:
    scorer = _Scorer(matrix, None)
    total = len(matrix)
    observed = scorer((range(n_baseline), range(n_baseline, total)))
    drawn = [scorer(s) for s in random_splits(n_baseline, total - n_baseline, rng, draws)]
    every = drawn + [observed]
    mean = [fmean(p[k] for p in every) for k in range(2)]
    sd = [pstdev([p[k] for p in every]) or 1.0 for k in range(2)]
    statistics = {
        "novelty": lambda p: p[0],
        "shift": lambda p: p[1],
        "max z": lambda p: max((p[0] - mean[0]) / sd[0], (p[1] - mean[1]) / sd[1]),
        "sum": lambda p: p[0] + p[1],
        "drift score": lambda p: p[0] + p[1] / 2,
    }
    return {
        name: monte_carlo_p(sum(f(p) >= f(observed) - 1e-9 for p in drawn), draws) for name, f in statistics.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=8)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--new", type=int, default=20)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--scenarios", default="none,content,format,subtle,refusal,mix")
    options = parser.parse_args()
    print(
        f"{options.baseline} baseline vs {options.new} new samples, {options.nights} nights x 12 cases; "
        f"share of cases with p <= 0.01 (p <= 0.05)"
    )
    print(f"{'':8}" + "".join(f"{name:>16}" for name in CANDIDATES))
    for scenario in options.scenarios.split(","):
        found: dict[str, list[float]] = {name: [] for name in CANDIDATES}
        for night in range(options.nights):
            model = NoiseModel(seed=f"score/{night}")
            for case in range(model.cases):
                rng = random.Random(f"score/{night}/{case}")
                texts = [model.answer(case, rng).text for _ in range(options.baseline)]
                texts += [model.answer(case, rng, scenario).text for _ in range(options.new)]  # type: ignore[arg-type]
                for name, p in p_values(similarity_matrix(texts), options.baseline, options.draws, rng).items():
                    found[name].append(p)
        print(
            f"{scenario:8}"
            + "".join(
                f"{fmean(p <= 0.01 for p in ps):>9.0%} ({fmean(p <= 0.05 for p in ps):3.0%})" for ps in found.values()
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
