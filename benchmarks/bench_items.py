"""What does one case cost promptguard on the pytest side: the item, its judging, checks, reports?

Runs a suite of N cases (three text checks each, as in issue 17) and one of N/10, answered by an in-process `async`
python model (no HTTP, no thread hand-off: the transport is bench_calls.py's business), and takes the slope of the
pytest process's CPU time (user + sys) between them: start-up and session-end costs cancel out, what is left is the
cost of one more case. The same for N plain pytest tests gives pytest's own cost of an item. Each figure is the
median of RUNS runs.

    python benchmarks/bench_items.py                  # N=1000, with the JSON report and the JSONL call log
    python benchmarks/bench_items.py -n 2000 --runs 5 --reports none

Profile it (all threads) with py-spy:

    python benchmarks/bench_items.py --keep /tmp/items   # writes the project and prints the py-spy command
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_MS = 1.0
UNRELATED_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark"]
REPORTS = {
    "none": [],
    "json+log": ["--promptguard-report=out/report.json", "--promptguard-log=out/calls.jsonl"],
    "all": [
        "--promptguard-report=out/report.json",
        "--promptguard-log=out/calls.jsonl",
        "--promptguard-html=out/report.html",
        "--promptguard-md=out/summary.md",
    ],
}
MODEL = '''
async def answer(messages, params):
    """Echo the prompt at once (async: no thread hand-off), so the three checks pass."""
    return {"text": "ok " + messages[-1]["content"], "usage": {"input_tokens": 12, "output_tokens": 4}}
'''


def write_project(folder: Path, cases: int) -> None:
    (folder / "bench_model.py").write_text(MODEL)
    config = {
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
    (folder / "promptguard.yaml").write_text(json.dumps(config))
    checks = '[{contains: "ok"}, {not_contains: "sorry"}, {regex: "^ok question"}]'
    for name, count in (("big", cases), ("small", max(1, cases // 10))):
        body = "".join(f'  - {{id: c{i}, prompt: "question {i}", checks: {checks}}}\n' for i in range(count))
        (folder / f"{name}.prompt.yaml").write_text("cases:\n" + body)
        (folder / f"test_{name}.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({count}))\n"
            "def test_plain(i):\n    assert 'ok' in 'ok ' + str(i)\n"
        )


def cpu(folder: Path, *args: str) -> float:
    """CPU seconds (user + sys) of one pytest process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", *UNRELATED_PLUGINS, *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"pytest {' '.join(args)} failed:\n{output[-3000:]}")
    return usage.ru_utime + usage.ru_stime


def slope_ms(folder: Path, runs: int, cases: int, big: list[str], small: list[str]) -> float:
    """Median over runs of the CPU per case between the big and the small run, in ms."""
    small_cases = max(1, cases // 10)
    slopes = [(cpu(folder, *big) - cpu(folder, *small)) / (cases - small_cases) * 1000 for _ in range(runs)]
    return statistics.median(slopes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--cases", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is printed)")
    parser.add_argument("--reports", choices=sorted(REPORTS), default="json+log")
    parser.add_argument("--keep", type=Path, help="write the project here, print how to profile it, and stop")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        write_project(args.keep, args.cases)
        command = ["python", "-m", "pytest", "-q", *UNRELATED_PLUGINS, "--promptguard", "big.prompt.yaml"]
        command += REPORTS[args.reports]
        print(f"cd {args.keep} && py-spy record -t -r 500 -f raw -o items.txt -- {' '.join(command)} > /dev/null")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_project(folder, args.cases)
        reports = REPORTS[args.reports]
        ours = slope_ms(
            folder,
            args.runs,
            args.cases,
            ["--promptguard", "big.prompt.yaml", *reports],
            ["--promptguard", "small.prompt.yaml", *reports],
        )
        plain = slope_ms(folder, args.runs, args.cases, ["test_big.py"], ["test_small.py"])
    print(f"N={args.cases} cases, three text checks each, reports: {args.reports}; {os.cpu_count()} CPUs")
    print(f"pytest's own item         {plain:5.2f} ms CPU")
    print(
        f"promptguard case, all-in  {ours:5.2f} ms CPU (promptguard's share {ours - plain:.2f} ms)  "
        f"target <= {TARGET_MS} ms: {'met' if ours <= TARGET_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
