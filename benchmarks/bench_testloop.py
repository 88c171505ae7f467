"""What the project's own test suite costs: wall time and CPU time (user + sys of pytest and every process it
starts) of a pytest command, each the median of `--repeat` runs in fresh processes.

CPU time is the steadier figure on a shared machine (other work stretches wall time, not CPU time); quote both.

    python benchmarks/bench_testloop.py                          # the CI command: python -m pytest tests -q -n auto
    python benchmarks/bench_testloop.py --repeat 3 -- tests -q -n auto -m "not slow"  # the fast loop
    python benchmarks/bench_testloop.py -- tests/test_goldens.py -q                # one file, serially
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(args: list[str], output: Path | None) -> tuple[float, float, int, str]:
    """(wall s, CPU s, exit code, last line) of one `python -m pytest *args` run from the repository root; its output
    goes to `output` when given."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if output is not None:
        output.write_text(done.stdout + done.stderr, encoding="utf-8")
    lines = done.stdout.strip().splitlines()
    return wall, cpu, done.returncode, lines[-1] if lines else done.stderr.strip()[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--output", type=Path, help="write the last run's output there")
    parser.add_argument("pytest_args", nargs="*", default=["tests", "-q", "-n", "auto"])
    options = parser.parse_args()
    walls, cpus = [], []
    for number in range(1, options.repeat + 1):
        wall, cpu, code, last = measure(options.pytest_args, options.output)
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {number}: wall {wall:6.1f} s  cpu {cpu:6.1f} s  exit {code}  {last}", flush=True)
    load = os.getloadavg()[0]
    print(
        f"median of {options.repeat}: wall {statistics.median(walls):.1f} s, cpu {statistics.median(cpus):.1f} s "
        f"(python -m pytest -p no:cacheprovider {' '.join(options.pytest_args)}; {os.cpu_count()} cores, "
        f"load {load:.1f} at the end)"
    )


if __name__ == "__main__":
    main()
