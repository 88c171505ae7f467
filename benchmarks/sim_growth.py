"""Should a baseline grow by itself? A creeping drift judged against a fixed baseline and against one that grows.

The question of issue 15, point 4: samples of later runs judged stable could join the baseline without extra
calls. This measures what that does, engine level (no pytest, no HTTP), with `sim_drift.py`'s judging:

- a world is a `NoiseModel` of 12 prompts and a recorded baseline of 20 samples a case;
- then `--nights` nightly runs, one sample a case (most nightly runs use no `repeat`). Night t (from 1) changes a
  share min(1, t x `--step`) of the answers as `--scenario` says (noise.py: `format` turns answers into a list,
  JSON or padding; `refusal`; `content`, refusals and wrong facts): a model that creeps. `--step 0`: quiet;
- policy `fixed`: every night is judged against the recorded 20 samples (promptguard's default; the baseline
  grows only when someone runs `--promptguard-update --promptguard-top-up`);
- policy `grow`: after every green night, that night's samples join each case's baseline, up to 60 (the
  oldest go first), as an automatic pool would.

Printed per policy: worlds whose model was caught (a red night) by night 10, 20, 30, the median night of the first
red one and the share of answers changed then; with `--step 0`, the share of nights red (false alarms).

    nice -n 10 python benchmarks/sim_growth.py --worlds 40 --step 0.01 --scenario format   # +1 point a night
    nice -n 10 python benchmarks/sim_growth.py --worlds 40 --step 0                        # quiet: false alarms
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from noise import Answer, NoiseModel  # noqa: E402
from sim_drift import Case, judge  # noqa: E402

from pytest_promptguard.drift.features import features  # noqa: E402
from pytest_promptguard.drift.similarity import similarity  # noqa: E402
from pytest_promptguard.drift.verdicts import Tolerances  # noqa: E402

BASELINE, POOL = 20, 60
TOLERANCES = Tolerances(similarity=5.0, latency=0.25)


class Scores:
    """Similarities by text pair: a paraphrase mix repeats its texts, so most pairs were scored already."""

    def __init__(self) -> None:
        self.figures: dict[str, object] = {}
        self.pairs: dict[tuple[str, str], float] = {}

    def matrix(self, texts: list[str]) -> tuple[list[list[float]], list]:
        for text in texts:
            if text not in self.figures:
                self.figures[text] = features(text)
        rows = []
        for a in texts:
            row = []
            for b in texts:
                key = (a, b) if a <= b else (b, a)
                if key not in self.pairs:
                    self.pairs[key] = 100.0 if a == b else similarity(a, b, self.figures[a], self.figures[b])
                row.append(self.pairs[key])
            rows.append(row)
        return rows, [self.figures[t] for t in texts]


def world(seed: str, nights: int, step: float, scenario: str, policy: str, alpha: float) -> list[bool]:
    """Whether each night of one world was red under `policy`."""
    model = NoiseModel(seed=seed, cases=12)
    scores = Scores()
    pools: list[list[Answer]] = []
    for c in range(model.cases):
        rng = random.Random(f"{seed}/{c}/baseline")
        pools.append([model.answer(c, rng) for _ in range(BASELINE)])
    reds = []
    for night in range(1, nights + 1):
        share = min(1.0, night * step)
        today = [model.answer(c, random.Random(f"{seed}/{c}/{night}"), scenario, share) for c in range(model.cases)]
        cases = []
        for pool, answer in zip(pools, today):
            matrix, figures = scores.matrix([a.text for a in pool] + [answer.text])
            cases.append(Case(matrix, figures, [a.latency_ms for a in pool], [answer.latency_ms]))
        red = judge(cases, len(pools[0]), (1,), TOLERANCES, alpha, f"{seed}/{night}").red
        reds.append(red)
        if policy == "grow" and not red:
            for pool, answer in zip(pools, today):
                pool.append(answer)
                del pool[: max(0, len(pool) - POOL)]
    return reds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", type=int, default=40)
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--step", type=float, default=0.02, help="share of changed answers added a night (0: quiet)")
    parser.add_argument("--scenario", default="format", help="how answers change (benchmarks/noise.py's scenarios)")
    parser.add_argument("--alpha", type=float, default=0.01)
    options = parser.parse_args()
    print(
        f"{options.worlds} worlds x {options.nights} nights, one sample a case, 12 cases, baseline {BASELINE} "
        f"(grow: up to {POOL}), {options.scenario} +{options.step:g} of answers a night, alpha {options.alpha:g}",
        flush=True,
    )
    for policy in ("fixed", "grow"):
        started = time.perf_counter()
        took = lambda: f"[{time.perf_counter() - started:.0f} s]"  # noqa: E731
        runs = [
            world(f"growth/{w}", options.nights, options.step, options.scenario, policy, options.alpha)
            for w in range(options.worlds)
        ]
        if options.step == 0:
            red = sum(sum(r) for r in runs)
            total = options.worlds * options.nights
            print(f"  {policy:5}  quiet nights red {red}/{total} = {red / total:.2%}  {took()}")
            continue
        first = [next((n + 1 for n, red in enumerate(r) if red), None) for r in runs]
        caught = {
            by: sum(f is not None and f <= by for f in first)
            for by in sorted({10, 20, 30, options.nights})
            if by <= options.nights
        }
        found = [f for f in first if f is not None]
        changed = min(1.0, median(found) * options.step) if found else 0.0
        when = f"median first red night {median(found):.0f} ({changed:.0%} of answers changed)" if found else ""
        shown = ", ".join(f"by night {by}: {n}/{options.worlds}" for by, n in caught.items())
        print(f"  {policy:5}  caught {shown}; {when or 'never caught'}  {took()}")


if __name__ == "__main__":
    main()
