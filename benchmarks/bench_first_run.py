"""What issue 18's additions cost: `init` (with its Ollama probe), shards weighed by the goldens' latency, and the
template brace check at suite load.

Each figure is the median CPU time (user + sys) of `--repeat` fresh processes, the number to compare on a busy
machine; wall time is printed beside it.

    python benchmarks/bench_first_run.py              # 5,000 cases, 5 repeats
    python benchmarks/bench_first_run.py -n 10000 -r 7
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")}
ENV["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + ENV.get("PYTHONPATH", "")

CONFIG = """\
pythonpath: [.]
default_models: [echo]
models:
  echo: {provider: python, callable: "bench_app:echo", params: {temperature: 0}}
"""
APP = "def echo(messages, params):\n    return messages[-1]['content']\n"


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def median_of(repeat: int, command: list[str], cwd: Path, env: dict[str, str]) -> str:
    runs = [measured(command, cwd, env) for _ in range(repeat)]
    cpu, wall = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    return f"CPU {cpu:.3f} s, wall {wall:.3f} s (median of {repeat})"


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def bench_init(repeat: int) -> None:
    env = {**ENV, "OLLAMA_HOST": closed_port()}
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        for index in range(repeat):
            runs.append(measured([sys.executable, "-m", "pytest_promptguard", "init", f"p{index}"], Path(folder), env))
        cpu, wall = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"init (no key, nothing on the Ollama port): CPU {cpu:.3f} s, wall {wall:.3f} s (median of {repeat})")
        baseline = median_of(repeat, [sys.executable, "-c", "import pytest_promptguard.cli"], Path(folder), env)
        print(f"  python -c 'import pytest_promptguard.cli' alone: {baseline}")


def bench_collection(cases: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "promptguard.yaml").write_text(CONFIG)
        (root / "bench_app.py").write_text(APP)
        for suite in range(10):
            body = "".join(
                f"  - {{id: c{i}, prompt: 'Hello {{{{name}}}}, case {i}', vars: {{name: n{i}}}}}\n"
                for i in range(cases // 10)
            )
            (root / f"s{suite}.prompt.yaml").write_text("cases:\n" + body)
        pytest = [sys.executable, "-m", "pytest", "--promptguard", "-q", "-p", "no:cacheprovider"]
        subprocess.run([*pytest, "--promptguard-update"], cwd=root, env=ENV, check=True, stdout=subprocess.DEVNULL)
        print(f"collection of {cases:,} cases in 10 suites, goldens recorded:")
        print(f"  --collect-only:                         {median_of(repeat, [*pytest, '--collect-only'], root, ENV)}")
        sharded = [*pytest, "--collect-only", "--promptguard-shard", "1/4"]
        print(f"  --collect-only --promptguard-shard 1/4: {median_of(repeat, sharded, root, ENV)}")


def bench_braces(prompts: int) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from pytest_promptguard.suite.template import check_braces, render

    texts = [f"You are a support bot for {{{{company}}}}. Answer: {{{{question}}}} (case {i})" for i in range(prompts)]
    variables = {"company": "Acme", "question": "When?"}
    best_render = best_check = float("inf")
    for _ in range(5):
        started = time.process_time()
        for text in texts:
            render(text, variables)
        best_render = min(best_render, time.process_time() - started)
        started = time.process_time()
        for text in texts:
            check_braces(text)
        best_check = min(best_check, time.process_time() - started)
    print(
        f"render of {prompts:,} two-placeholder prompts: {best_render * 1e6 / prompts:.2f} µs each, of which the brace "
        f"check {best_check * 1e6 / prompts:.2f} µs (best of 5, CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--cases", type=int, default=5000)
    parser.add_argument("-r", "--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_init(args.repeat)
    bench_collection(args.cases, args.repeat)
    bench_braces(args.cases)


if __name__ == "__main__":
    main()
