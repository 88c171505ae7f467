"""How long the drift engine takes per case and look (pure Python, no numpy).

For realistic samples (benchmarks/noise.py) it times, best of `--repeat` runs: the similarity matrix of the
pooled samples (from scratch, and as a look that adds today's samples to a known baseline block), the set
test with the run-level draws (1000) and without them (a quiet interim look), a drifted case's final look
(p-values down to the lone-case bound of 12 cases at alpha 0.01), the pooled run-level test of 12 cases, and
the suite's latency test.

    nice -n 10 python benchmarks/bench_drift_engine.py
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from noise import NoiseModel  # noqa: E402

from pytest_promptguard.drift.features import features  # noqa: E402
from pytest_promptguard.drift.latency import suite_latency  # noqa: E402
from pytest_promptguard.drift.pooled import pool  # noqa: E402
from pytest_promptguard.drift.sets import compare_sets  # noqa: E402
from pytest_promptguard.drift.similarity import similarity_matrix  # noqa: E402
from pytest_promptguard.drift.verdicts import family_bound, lone_bound  # noqa: E402


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    model = NoiseModel(seed="bench")
    rng = random.Random(0)
    print(f"Python {sys.version.split()[0]}; best of {options.repeat}; ms per case and look")
    for n_baseline, n_new in ((10, 1), (10, 4), (10, 8), (10, 20), (20, 4), (20, 20)):
        quiet = [model.answer(0, rng).text for _ in range(n_baseline + n_new)]
        drifted = quiet[:n_baseline] + [model.answer(0, rng, "refusal").text for _ in range(n_new)]
        figures = [features(t) for t in quiet]
        baseline_block = [row[:n_baseline] for row in similarity_matrix(quiet[:n_baseline], figures[:n_baseline])]
        full = similarity_matrix(quiet, figures)
        drifted_matrix = similarity_matrix(drifted)
        finest, family = lone_bound(0.01, 12, 2), family_bound(0.01, 2)
        rows = {
            "matrix, from scratch": best(lambda: similarity_matrix(quiet), options.repeat),
            "matrix, baseline block known": best(
                lambda: similarity_matrix(quiet, figures, known=baseline_block), options.repeat
            ),
            "set test, 1000 run-level draws": best(lambda: compare_sets(full, n_baseline, seed=1), options.repeat),
            "set test, interim look (no draws)": best(
                lambda: compare_sets(full, n_baseline, seed=1, draws=0, finest_p=0.02), options.repeat
            ),
            f"set test, drifted, p down to {family:.1e}": best(
                lambda: compare_sets(drifted_matrix, n_baseline, seed=1, draws=0, finest_p=family), options.repeat
            ),
            f"refined down to {finest:.1e}": best(
                lambda: compare_sets(drifted_matrix, n_baseline, seed=1, draws=0, finest_p=finest), options.repeat
            ),
        }
        print(
            f"n_baseline {n_baseline}, n_new {n_new}: " + "; ".join(f"{k} {v:.1f}" for k, v in rows.items()), flush=True
        )
    tests = {}
    for c in range(12):
        texts = [model.answer(c, rng).text for _ in range(14)]
        tests[str(c)] = compare_sets(similarity_matrix(texts), 10, seed=c)
    strata = [
        ([model.answer(c, rng).latency_ms for _ in range(10)], [model.answer(c, rng).latency_ms for _ in range(20)])
        for c in range(12)
    ]
    print(
        f"run level, 12 cases: pooled test {best(lambda: pool(tests), options.repeat):.1f} ms; "
        f"suite latency (10 vs 20 samples a case) {best(lambda: suite_latency(strata), options.repeat):.1f} ms"
    )


if __name__ == "__main__":
    main()
