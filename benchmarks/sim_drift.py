"""Engine-level simulation of nights: do the drift verdicts keep their promises? (no pytest, no HTTP)

Each night a `NoiseModel` (benchmarks/noise.py) of 12 prompts records a baseline of `--baseline-samples`
samples per case, then answers the night's run under a scenario. The run is judged three ways, as the
plugin would: `repeat: auto` (looks at 2, 4, 8, 16, 20 samples, futility stops, suite tests on every case's
first 4 samples), a fixed 20 samples (`--fixed`), and one sample per case (no repeat). Latency is judged
(tolerance 0.25) in every run unless `--no-latency`. A night is red when any item fails: a case
(Benjamini-Hochberg over the cases at alpha/2) or the suite x model item (pooled samples, pooled latency; alpha/2).

Printed per scenario: nights red, and what failed (cases, the suite's samples test, its latency test); on
quiet nights also the mean calls per case with `repeat: auto` against a fixed 20.

    nice -n 10 python benchmarks/sim_drift.py                                 # 200 quiet + 50 per scenario
    nice -n 10 python benchmarks/sim_drift.py --mode single --nights 1000 --scenario-nights 200
    nice -n 10 python benchmarks/sim_drift.py --variant heavy --scenarios none,content
    nice -n 10 python benchmarks/sim_drift.py --nights 0 --scenarios content --drifting 3 --share 0.3
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from noise import SCENARIOS, NoiseModel, NoiseParams  # noqa: E402

from pytest_promptguard.drift.features import features  # noqa: E402
from pytest_promptguard.drift.sequential import FUTILITY_P, Looks  # noqa: E402
from pytest_promptguard.drift.similarity import similarity_matrix  # noqa: E402
from pytest_promptguard.drift.verdicts import (  # noqa: E402
    CaseLook,
    Tolerances,
    decide_run,
    family_bound,
    lone_bound,
    look_at_case,
    look_at_suite,
)

VARIANTS = {
    "default": NoiseParams(),
    "heavy": NoiseParams(
        zipf=2.0, tail_share=0.15, tail_index=1.1, latency_sigma=0.5
    ),  # one dominant answer, rare ones, slow calls
    "few": NoiseParams(paraphrases=(2, 3)),
    "many": NoiseParams(paraphrases=(8, 16), zipf=0.8, variation=0.6),  # a flat mix of many answers
}


@dataclass
class Case:
    matrix: list[list[float]]
    figures: list
    latencies_then: list[float]
    latencies_now: list[float]


@dataclass
class Night:
    red: bool
    cases_failed: int
    suite_failed: set[str] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)


def record(
    model: NoiseModel,
    tag: str,
    scenario: str,
    n_baseline: int,
    most: int,
    share: float = 0.5,
    drifting: int | None = None,
) -> list[Case]:
    """Every case's baseline and today's samples; the first `drifting` cases (all by default) drift, a `share`
    of their answers for the scenarios that change some answers."""
    cases = []
    for c in range(model.cases):
        then_rng, now_rng = random.Random(f"{model.seed}/{c}/baseline"), random.Random(f"{tag}/{c}/now")
        then = [model.answer(c, then_rng) for _ in range(n_baseline)]
        kind = scenario if drifting is None or c < drifting else "none"
        now = [model.answer(c, now_rng, kind, share) for _ in range(most)]  # type: ignore[arg-type]
        texts = [a.text for a in then + now]
        figures = [features(t) for t in texts]
        cases.append(
            Case(similarity_matrix(texts, figures), figures, [a.latency_ms for a in then], [a.latency_ms for a in now])
        )
    return cases


def _first(matrix: list[list[float]], n: int) -> list[list[float]]:
    return [row[:n] for row in matrix[:n]]


def judge(
    cases: list[Case], n_baseline: int, sizes: tuple[int, ...], tolerances: Tolerances, alpha: float, tag: str
) -> Night:
    """One run judged as the plugin would, with looks at `sizes` (one size: a fixed number of samples)."""
    looks = Looks(sizes)
    tests = 2 if tolerances.latency is not None else 1
    finals: dict[str, CaseLook] = {}
    pooled, strata, calls = {}, [], []

    def look(c: int, k: int, finest_p: float) -> CaseLook:
        case, n = cases[c], looks.sizes[k]
        return look_at_case(
            _first(case.matrix, n_baseline + n),
            n_baseline,
            tolerances,
            figures=case.figures[: n_baseline + n],
            latencies=(case.latencies_then, case.latencies_now[:n]),
            seed=f"{tag}/{c}/{k}",
            draws=1000 if n == looks.pooling else 0,
            finest_p=finest_p,
        )

    for c, case in enumerate(cases):
        for k, n in enumerate(looks.sizes):
            last = looks.last(k)
            seen = look(c, k, family_bound(alpha, tests) if last else FUTILITY_P / 10)
            if n == looks.pooling:
                pooled[str(c)] = seen.text
                strata.append((case.latencies_then, case.latencies_now[:n]))
            if last:
                finals[str(c)] = seen
            if last or seen.futile():
                calls.append(n)
                break
    suites = {"suite": look_at_suite(pooled, strata, tolerances)}
    failing = decide_run(finals, suites, alpha, case_count=len(cases))
    refine = [name for name, seen in finals.items() if seen.text.floored and not failing[name]]
    if refine:  # their rejection may hang on a finer p-value: ask again, then decide again
        for name in refine:
            finals[name] = look(int(name), len(looks.sizes) - 1, lone_bound(alpha, len(cases), tests))
        failing = decide_run(finals, suites, alpha, case_count=len(cases))
    cases_failed = sum(bool(failing[name]) for name in finals)
    suite_failed = {f.name for f in failing["suite"]}
    return Night(bool(cases_failed or suite_failed), cases_failed, suite_failed, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=200, help="quiet nights")
    parser.add_argument("--scenario-nights", type=int, default=50, help="nights per drift scenario")
    parser.add_argument("--scenarios", default="none,content,format,subtle,latency,refusal")
    parser.add_argument("--mode", choices=("auto", "single", "fixed"), default="auto")
    parser.add_argument("--baseline-samples", type=int, default=20)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="default")
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument(
        "--share", type=float, default=0.5, help="share of answers that change (content, format, refusal)"
    )
    parser.add_argument("--drifting", type=int, default=None, help="how many cases drift (default: all)")
    parser.add_argument("--baseline-reuse", type=int, default=1, help="nights judged against one recorded baseline")
    parser.add_argument("--no-latency", action="store_true", help="latency not judged (no latency tolerance)")
    options = parser.parse_args()
    sizes = {"auto": tuple(Looks.auto(2, 20).sizes), "single": (1,), "fixed": (20,)}[options.mode]
    tolerances = Tolerances(similarity=5.0, latency=None if options.no_latency else 0.25)
    print(
        f"mode {options.mode} (looks {sizes}), baseline_samples {options.baseline_samples}, {options.cases} cases "
        f"({options.drifting if options.drifting is not None else 'all'} drifting, share {options.share:g}), "
        f"alpha {options.alpha:g}, noise {options.variant}: {VARIANTS[options.variant]}",
        flush=True,
    )
    for scenario in options.scenarios.split(","):
        if scenario not in SCENARIOS:
            raise SystemExit(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
        started = time.perf_counter()
        count = options.nights if scenario == "none" else options.scenario_nights
        nights = []
        for night in range(count):
            tag = f"{options.variant}/{scenario}/{night}"
            world = f"{options.variant}/{scenario}/{night // options.baseline_reuse}"  # the model and its baseline
            model = NoiseModel(seed=world, cases=options.cases, params=VARIANTS[options.variant])
            cases = record(model, tag, scenario, options.baseline_samples, max(sizes), options.share, options.drifting)
            nights.append(judge(cases, options.baseline_samples, sizes, tolerances, options.alpha, tag))
        red = sum(n.red for n in nights)
        by_cases = sum(n.cases_failed > 0 for n in nights)
        by_samples = sum("samples" in n.suite_failed for n in nights)
        by_latency = sum("latency" in n.suite_failed for n in nights)
        calls = fmean(c for n in nights for c in n.calls)
        cases_failed = fmean(n.cases_failed for n in nights) / options.cases
        worlds = [nights[i : i + options.baseline_reuse] for i in range(0, count, options.baseline_reuse)]
        worst = max((sum(n.red for n in w) for w in worlds), default=0)
        reuse = (
            f"; worst baseline red on {worst} of its {options.baseline_reuse} nights"
            if options.baseline_reuse > 1
            else ""
        )
        print(
            f"{scenario:8} {red:4}/{count} nights red = {red / count:6.1%}  (cases failed on {by_cases}, "
            f"{cases_failed:.0%} of cases; suite samples test on {by_samples}, suite latency on {by_latency}); "
            f"calls per case {calls:.1f} = {calls / 20:.0%} of 20{reuse}  [{time.perf_counter() - started:.0f} s]",
            flush=True,
        )


if __name__ == "__main__":
    main()
