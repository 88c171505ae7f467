"""Do 10,000 cases stay usable? Collection time, peak memory and wall time of a full run with every report on.

Writes FILES suite files of CASES cases each (default 100 x 100 = 10,000), answered by a `python` provider that
echoes the prompt (no network, no latency: what is measured is promptguard and pytest, not a model), then:

  1. collection: `pytest --promptguard --collect-only -q` (best of 3)             target <= 2.5 s
  2. a full run with --promptguard-report/-log/-html/-md: wall time, and the peak
     resident memory of the pytest process (os.wait4's ru_maxrss)               target < 300 MB
  3. with --workers: the same run under `-n auto` (pytest-xdist), for throughput

    python benchmarks/bench_scale.py                    # 100 files x 100 cases
    python benchmarks/bench_scale.py --files 10 --cases 100 --workers
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLLECT_TARGET_S = 2.5  # issue 17
MEMORY_TARGET_MB = 300.0
UNRELATED_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark"]
REPORTS = [
    "--promptguard-report=out/report.json",
    "--promptguard-log=out/calls.jsonl",
    "--promptguard-html=out/report.html",
    "--promptguard-md=out/summary.md",
]

MODEL = '''
def answer(messages, params):
    """Echo the prompt, so its `contains` check passes; case 77 of every suite answers wrong: 1% fail."""
    prompt = messages[-1]["content"]
    text = "wrong" if prompt.endswith(" case 77") else f"echo {prompt}"
    return {"text": text, "usage": {"input_tokens": 12, "output_tokens": 4}}
'''


def write_suites(folder: Path, files: int, cases: int) -> None:
    (folder / "bench_model.py").write_text(MODEL)
    (folder / "promptguard.yaml").write_text(
        json.dumps(
            {
                "pythonpath": ["."],
                "default_models": ["echo"],
                "models": {
                    "echo": {
                        "provider": "python",
                        "callable": "bench_model:answer",
                        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
                    }
                },
            }
        )
    )
    for f in range(files):
        body = "".join(
            f'  - {{id: c{c}, prompt: "suite {f} case {c}", tags: [t{c % 5}], '
            f'checks: [{{contains: "echo suite {f} case {c}"}}]}}\n'
            for c in range(cases)
        )
        (folder / "suites" / f"s{f:03d}.prompt.yaml").write_text(f"tags: [suite{f % 10}]\ncases:\n{body}")


def run(folder: Path, *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the pytest process (and its children), and the tail of its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", *UNRELATED_PLUGINS, *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 1):  # 1: the suites' planted failures
        sys.exit(f"pytest {' '.join(args)} failed ({process.returncode}):\n{output[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024, output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--cases", type=int, default=100, help="cases per file")
    parser.add_argument("--workers", action="store_true", help="also run under -n auto (pytest-xdist)")
    args = parser.parse_args()
    total = args.files * args.cases
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "suites").mkdir()
        write_suites(folder, args.files, args.cases)
        print(f"{args.files} files x {args.cases} cases = {total} cases, python provider (echo), CPU {os.cpu_count()}")

        # Best of three: collection is short, and a shared machine's load would otherwise decide the figure.
        collect, collect_mb, last = min(run(folder, "--promptguard", "--collect-only") for _ in range(3))
        print(
            f"collection  {collect:6.2f} s  peak {collect_mb:5.0f} MB  ({last})  "
            f"target <= {COLLECT_TARGET_S} s: {'met' if collect <= COLLECT_TARGET_S else 'MISSED'}"
        )

        wall, peak, last = run(folder, "--promptguard", *REPORTS)
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in sorted((folder / "out").iterdir()))
        print(
            f"full run    {wall:6.2f} s  peak {peak:5.0f} MB  {total / wall:6.0f} cases/s  ({last})  "
            f"target < {MEMORY_TARGET_MB:.0f} MB: {'met' if peak < MEMORY_TARGET_MB else 'MISSED'}"
        )
        print(f"reports     {sizes}")

        if args.workers:
            wall_n, peak_n, last = run(folder, "--promptguard", "-n", "auto", *REPORTS)
            print(
                f"-n auto     {wall_n:6.2f} s  peak {peak_n:5.0f} MB (largest process)  {total / wall_n:6.0f} cases/s  "
                f"({last})  x{wall / wall_n:.2f}"
            )


if __name__ == "__main__":
    main()
