"""Every figure of issue 17's call-path targets, from one command.

A local OpenAI-compatible server in its own process (tests/timed_server.py: an asyncio server that parses only
what it must, so it is never the bottleneck) answers after a fixed latency and says how long it held each
request, from the request fully read to the answer written. `pytest --promptguard` runs as a user runs it, in a
subprocess, and this script prints:

1. client CPU per case: the slope of the pytest process's CPU time (user + sys, all threads) between a run of
   --small and one of --cases cases, at zero latency (start-up cancels out), three text checks a case, at each
   concurrency; beside it plain pytest's own slope for as many trivial tests. Target: <= 1.0 ms all-in.
2. wall for --cases cases at --latency, at each concurrency, against the ideal ceil(N/C) x L.
   Target: <= 1.1 x ideal + 1 s.
3. latency measurement error: the latency each call recorded less the server's own time for it (at C=64, while
   checks, statistical verdicts against a sampled baseline, the JSON, HTML and JSONL reports all run), p50 and
   p95; the same for the time to first token of a streaming model. Target: p95 <= 2 ms.
4. start-up to the first call: from starting `pytest --promptguard` on a one-case suite to the server reading
   the request, with and without PYTHONDONTWRITEBYTECODE=1 (the target, <= 0.5 s, is the start-up work's).

    python benchmarks/bench_calls.py                       # everything, 3 rounds each, medians
    python benchmarks/bench_calls.py --only cpu -r 5       # cpu | wall | error | startup
    python benchmarks/bench_calls.py --transport httpx     # the same on httpx's own transport

Timing figures move with the machine's load: quote them from a quiet machine, median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.timed_server import TimedServer, server_times  # noqa: E402

# Plugins of the development environment that have nothing to do with promptguard: their start-up cost
# (hypothesis imports itself in every run's summary) is not charged to promptguard.
UNRELATED_PLUGINS = ["-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider"]
CHECKS = '[{contains: "ok"}, {regex: "server_ms=[0-9.]+$"}, {not_contains: "error"}]'
# Written beside the suites: the CPU time of the scheduler's loop thread (the call path), read from /proc when the
# session finishes (before promptguard stops the thread) into the file $BENCH_LOOP_CPU names.
LOOP_CPU_CONFTEST = """
import os, threading
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session):
    target = os.environ.get("BENCH_LOOP_CPU")
    loop = next((t for t in threading.enumerate() if t.name == "promptguard-scheduler"), None)
    if target and loop is not None and os.path.exists(f"/proc/self/task/{loop.native_id}/stat"):
        with open(f"/proc/self/task/{loop.native_id}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(target, "w") as out:
            out.write(str((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")))
    yield
"""


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None, ok=(0,)) -> tuple[float, float]:
    """(wall s, CPU s of the pytest process) of one `python -m pytest -q ...` in `folder`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *UNRELATED_PLUGINS, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in ok:
        sys.exit(f"pytest {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_config(folder: Path, url: str, transport: str, concurrency: int, **drift: object) -> None:
    models = {
        name: {
            "provider": "openai",
            "model": "bench-model",
            "base_url": url,
            "max_concurrency": concurrency,
            "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
            **({"stream": True} if name == "streamed" else {}),
            **({"transport": transport} if transport != "aiohttp" else {}),  # the default: left out
        }
        for name in ("plain", "streamed")
    }
    (folder / "promptguard.yaml").write_text(
        json.dumps({"default_models": ["plain"], "models": models, "drift": drift}), encoding="utf-8"
    )


def write_suite(folder: Path, name: str, count: int, header: str = "") -> None:
    cases = "".join(f'  - {{id: c{i}, prompt: "question {i}", checks: {CHECKS}}}\n' for i in range(count))
    (folder / name).write_text(header + "cases:\n" + cases, encoding="utf-8")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def loop_cpu(folder: Path, *args: str) -> tuple[float, float]:
    """(CPU s of the pytest process, CPU s of its scheduler's loop thread; 0 where /proc cannot tell)."""
    target = folder / "loop_cpu.txt"
    target.unlink(missing_ok=True)
    cpu = run_pytest(folder, *args, env={"BENCH_LOOP_CPU": str(target)})[1]
    return cpu, float(target.read_text()) if target.exists() else 0.0


def cpu_per_case(args: argparse.Namespace, folder: Path) -> None:
    (folder / "conftest.py").write_text(LOOP_CPU_CONFTEST)
    write_suite(folder, "big.prompt.yaml", args.cases)
    write_suite(folder, "small.prompt.yaml", args.small)
    for name, count in (("test_big.py", args.cases), ("test_small.py", args.small)):
        (folder / name).write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({count}))\n"
            "def test_plain(i):\n    assert 'ok' in 'ok ' + str(i)\n"
        )
    span = args.cases - args.small
    plain = [
        (run_pytest(folder, "test_big.py")[1] - run_pytest(folder, "test_small.py")[1]) / span * 1000
        for _ in range(args.rounds)
    ]
    print(f"1. client CPU per case (slope {args.small} -> {args.cases} cases, L=0, three text checks a case)")
    print(f"   plain pytest, a trivial test: {median(plain):.2f} ms (rounds: {', '.join(f'{p:.2f}' for p in plain)})")
    with TimedServer() as server:
        for concurrency in args.concurrency:
            write_config(folder, server.url, args.transport, concurrency)
            run = ["--promptguard", "--promptguard-concurrency", str(concurrency)]
            slopes, loops = [], []
            for _ in range(args.rounds):
                big, big_loop = loop_cpu(folder, *run, "big.prompt.yaml")
                small, small_loop = loop_cpu(folder, *run, "small.prompt.yaml")
                slopes.append((big - small) / span * 1000)
                loops.append((big_loop - small_loop) / span * 1000)
            figure = median(slopes)
            print(
                f"   C={concurrency:<3} {figure:.2f} ms a case (rounds: {', '.join(f'{s:.2f}' for s in slopes)}); "
                f"target <= 1.0 ms: {verdict(figure <= 1.0)}; of which the call path (the scheduler's loop thread) "
                f"{median(loops):.2f} ms"
            )


def wall(args: argparse.Namespace, folder: Path) -> None:
    write_suite(folder, "big.prompt.yaml", args.cases)
    print(f"2. wall for N={args.cases}, L={args.latency * 1000:.0f} ms")
    with TimedServer(latency_s=args.latency) as server:
        for concurrency in args.concurrency:
            write_config(folder, server.url, args.transport, concurrency)
            run = ["--promptguard", "--promptguard-concurrency", str(concurrency), "big.prompt.yaml"]
            walls = [run_pytest(folder, *run)[0] for _ in range(args.rounds)]
            ideal = math.ceil(args.cases / concurrency) * args.latency
            bound = 1.1 * ideal + 1
            figure = median(walls)
            print(
                f"   C={concurrency:<3} {figure:.2f} s (rounds: {', '.join(f'{w:.2f}' for w in walls)}); "
                f"ideal {ideal:.2f} s, target <= 1.1 x ideal + 1 s = {bound:.2f} s: {verdict(figure <= bound)}"
            )


def latency_error(args: argparse.Namespace, folder: Path) -> None:
    """Record a sampled baseline, then run the suite against it at C=64 with every report, and compare each
    call's recorded latency (and time to first token) with the server's own figures for it."""
    concurrency = max(args.concurrency)
    write_suite(folder, "verdicts.prompt.yaml", args.verdict_cases, header="models: [plain, streamed]\n")
    samples = ["--promptguard-repeat", str(args.samples), "--promptguard-concurrency", str(concurrency)]
    errors: dict[str, list[float]] = {"latency": [], "ttft": [], "streamed latency": []}
    with TimedServer(latency_s=args.latency, ttft_s=args.ttft) as server:
        write_config(folder, server.url, args.transport, concurrency, baseline_samples=args.samples)
        for round_ in range(args.rounds):
            run_pytest(folder, "--promptguard", "--promptguard-update", *samples, "verdicts.prompt.yaml", ok=(0, 1))
            log = folder / f"calls{round_}.jsonl"
            reports = [f"--promptguard-report=report{round_}.json", f"--promptguard-html=report{round_}.html"]
            run = ["--promptguard", *samples, "--promptguard-latency-tolerance", "0.25", f"--promptguard-log={log}"]
            run_pytest(folder, *run, *reports, "verdicts.prompt.yaml", ok=(0, 1))
            for line in log.read_text(encoding="utf-8").splitlines():
                call = json.loads(line)
                if call["error"]:
                    sys.exit(f"a call failed: {call['error']}")
                server_ms = server_times(call["output"])
                if call["model"] == "plain":
                    errors["latency"].append(call["latency_ms"] - server_ms["server_ms"])
                else:
                    errors["streamed latency"].append(call["latency_ms"] - server_ms["server_ms"])
                    errors["ttft"].append(call["ttft_ms"] - server_ms["server_ttft_ms"])
    print(
        f"3. latency measurement error at C={concurrency} (client-recorded less the server's own time; "
        f"{args.verdict_cases} cases x 2 models x {args.samples} samples against a sampled baseline, "
        f"checks, verdicts, JSON + HTML + JSONL reports; L={args.latency * 1000:.0f} ms, "
        f"TTFT {args.ttft * 1000:.0f} ms; {args.rounds} rounds pooled)"
    )
    for name, values in errors.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(
            f"   {name:<17} p50 {p50:.2f} ms  p95 {p95:.2f} ms  max {max(values):.2f} ms  ({len(values)} calls); "
            f"target p95 <= 2 ms: {verdict(p95 <= 2)}"
        )


def startup(args: argparse.Namespace, folder: Path) -> None:
    write_suite(folder, "one.prompt.yaml", 1)
    print("4. start-up to the first call (one-case suite: process start to the server reading the request)")
    for label, env in (("with bytecode caching", {}), ("PYTHONDONTWRITEBYTECODE=1", {"PYTHONDONTWRITEBYTECODE": "1"})):
        figures = []
        for _ in range(args.rounds):
            with TimedServer() as server:
                write_config(folder, server.url, args.transport, 16)
                started = time.time()
                run_pytest(folder, "--promptguard", "one.prompt.yaml", env=env)
                figures.append(server.first_request_at() - started)
        figure = median(figures)
        print(
            f"   {label:<26} {figure:.2f} s (rounds: {', '.join(f'{f:.2f}' for f in figures)}); "
            f"target <= 0.5 s: {verdict(figure <= 0.5)}"
        )


PARTS = {"cpu": cpu_per_case, "wall": wall, "error": latency_error, "startup": startup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--cases", type=int, default=1000)
    parser.add_argument("--small", type=int, default=200, help="cases of the smaller run of the CPU slope")
    parser.add_argument("-l", "--latency", type=float, default=0.05, help="server latency in seconds")
    parser.add_argument("--ttft", type=float, default=0.01, help="a streamed answer's first content, in seconds")
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--verdict-cases", type=int, default=100, help="cases of the latency error run")
    parser.add_argument("--samples", type=int, default=5, help="samples a case in the latency error run")
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    parser.add_argument("--only", choices=list(PARTS), nargs="+", default=list(PARTS))
    args = parser.parse_args()
    if os.environ.get("PYTHONPATH"):  # the runs happen in temporary folders: a relative PYTHONPATH=src must hold
        os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in os.environ["PYTHONPATH"].split(":"))
    print(f"transport {args.transport}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for name in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            PARTS[name](args, Path(tmp))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
