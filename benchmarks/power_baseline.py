"""Power analysis: how many baseline samples to record by default at temperature > 0.

The baseline is recorded once (`--promptguard-update`) and judged against every night, so its size buys power
on every later run for a one-off cost. Printed for each candidate size:

1. closed forms (drift/power.py): the smallest share of answers with a new behaviour that one case detects
   with 80% power with 4, 8 and 20 samples today, at the bound of a case that drifts alone among 12 (alpha
   0.01: 0.005 for the cases, / 12 cases, / 2 tests) and of a case in a run where every case drifted (0.005);
   and the best p-value of a lone sample, 1 / (n + 1);
2. engine-level simulation (benchmarks/sim_drift.py's nights, default noise model): one sample a case, the
   share of quiet nights red and of half-refusal nights red; `repeat: auto`, the mean calls per case on quiet
   nights and the share of drifted cases failed per scenario (which the run-level test does not need, but a
   report naming the drifted cases does).

    nice -n 10 python benchmarks/power_baseline.py                       # closed forms + a quick simulation
    nice -n 10 python benchmarks/power_baseline.py --sizes 10,20 --nights 200 --scenario-nights 30
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from noise import NoiseModel  # noqa: E402
from sim_drift import VARIANTS, judge, record  # noqa: E402

from pytest_promptguard.drift.power import best_possible_p, detectable_share  # noqa: E402
from pytest_promptguard.drift.sequential import Looks  # noqa: E402
from pytest_promptguard.drift.verdicts import Tolerances, lone_bound  # noqa: E402


def closed_forms(sizes: list[int]) -> None:
    alone, together = lone_bound(0.01, 12, 2), 0.01 / 2
    print(
        f"smallest share of answers with a new behaviour found with 80% power (alone among 12: p <= {alone:.1e}; "
        f"all 12 drifted: p <= {together:g}); best p of a lone sample"
    )
    for n in sizes:
        cells = []
        for today in (4, 8, 20):
            a, t = detectable_share(n, today, alone), detectable_share(n, today, together)
            cells.append(f"{today} today: {_share(a)} / {_share(t)}")
        print(f"  baseline {n:2}: " + "; ".join(cells) + f"; lone sample p >= {best_possible_p(n, 1):.3f}")


def _share(value: float | None) -> str:
    return "never" if value is None else f"{value:.0%}"


def simulate(sizes: list[int], nights: int, scenario_nights: int, scenarios: list[str]) -> None:
    tolerances = Tolerances(similarity=5.0, latency=0.25)
    auto = tuple(Looks.auto(2, 20).sizes)
    for n in sizes:
        started = time.perf_counter()
        single = {"none": [], "refusal": []}
        for scenario in single:
            for night in range(nights if scenario == "none" else scenario_nights * 4):
                tag = f"power/{n}/{scenario}/{night}"
                cases = record(NoiseModel(seed=tag, params=VARIANTS["default"]), tag, scenario, n, 1)
                single[scenario].append(judge(cases, n, (1,), tolerances, 0.01, tag).red)
        quiet_calls = []
        for night in range(nights // 2):
            tag = f"power/{n}/auto/none/{night}"
            cases = record(NoiseModel(seed=tag, params=VARIANTS["default"]), tag, "none", n, 20)
            quiet_calls += judge(cases, n, auto, tolerances, 0.01, tag).calls
        failed = {}
        for scenario in scenarios:
            shares = []
            for night in range(scenario_nights):
                tag = f"power/{n}/auto/{scenario}/{night}"
                cases = record(NoiseModel(seed=tag, params=VARIANTS["default"]), tag, scenario, n, 20)
                shares.append(judge(cases, n, auto, tolerances, 0.01, tag).cases_failed / len(cases))
            failed[scenario] = fmean(shares)
        print(
            f"  baseline {n:2}: one sample a case: quiet nights red {fmean(single['none']):.1%} ({nights}), half "
            "refusals "
            f"red {fmean(single['refusal']):.0%} ({scenario_nights * 4}); repeat auto: quiet calls "
            f"{fmean(quiet_calls):.1f} "
            f"a case ({nights // 2} nights), drifted cases failed "
            + ", ".join(f"{k} {v:.0%}" for k, v in failed.items())
            + f" ({scenario_nights} nights) [{time.perf_counter() - started:.0f} s]",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5,10,15,20,30")
    parser.add_argument("--nights", type=int, default=100)
    parser.add_argument("--scenario-nights", type=int, default=10)
    parser.add_argument("--scenarios", default="content,format,subtle")
    parser.add_argument("--closed-forms-only", action="store_true")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    closed_forms(sizes)
    if not options.closed_forms_only:
        print("engine-level simulation, default noise model, 12 cases, alpha 0.01, latency judged (tolerance 0.25):")
        simulate(sizes, options.nights, options.scenario_nights, options.scenarios.split(","))


if __name__ == "__main__":
    main()
