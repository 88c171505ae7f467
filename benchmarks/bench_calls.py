"""How close does a run come to the ideal wall time of ceil(N / C) x L?

Starts a local OpenAI-compatible server that answers after a fixed latency L, writes a suite of N cases,
runs `pytest --promptguard` at concurrency C, and prints wall time, the ideal, and their ratio. Then runs
again with the response cache warm and compares with N plain pytest tests: the difference per case is
what promptguard adds to pytest's own per-test cost (loading, checking, recording a cached case).

    python benchmarks/bench_calls.py                 # N=1000, L=50 ms, C=16
    python benchmarks/bench_calls.py -n 200 -l 0.8 -c 32
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(latency_s: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(latency_s)
            body = json.dumps(
                {
                    "model": "bench-model",
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": "ok " + request["messages"][-1]["content"]},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Plugins of the development environment that have nothing to do with promptguard: their start-up cost
# (hypothesis imports itself in every run's summary) is not charged to promptguard.
UNRELATED_PLUGINS = ["-p", "no:hypothesispytest", "-p", "no:benchmark"]


def run_pytest(folder: Path, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *UNRELATED_PLUGINS, *args],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"pytest failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--cases", type=int, default=1000)
    parser.add_argument("-l", "--latency", type=float, default=0.05, help="server latency in seconds")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    args = parser.parse_args()

    server = serve(args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "promptguard.yaml").write_text(
            json.dumps(
                {
                    "default_models": ["bench"],
                    "models": {
                        "bench": {
                            "provider": "openai",
                            "model": "bench-model",
                            "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1",
                            "max_concurrency": args.concurrency,
                        }
                    },
                }
            )
        )
        cases = "".join(
            f'  - {{id: c{i}, prompt: "question {i}", checks: [{{contains: "ok"}}]}}\n' for i in range(args.cases)
        )
        (folder / "bench.prompt.yaml").write_text("cases:\n" + cases)
        small = max(1, args.cases // 10)
        (folder / "small.prompt.yaml").write_text("cases:\n" + "".join(cases.splitlines(keepends=True)[:small]))
        for name, count in (("test_plain.py", args.cases), ("test_small.py", small)):
            (folder / name).write_text(
                "import pytest\n\n"
                f"@pytest.mark.parametrize('i', range({count}))\n"
                "def test_plain(i):\n    assert 'ok' in 'ok ' + str(i)\n"
            )

        concurrency = ["--promptguard-concurrency", str(args.concurrency)]
        wall = run_pytest(folder, "--promptguard", "bench.prompt.yaml", *concurrency)
        ideal = math.ceil(args.cases / args.concurrency) * args.latency
        print(f"N={args.cases} L={args.latency * 1000:.0f} ms C={args.concurrency}")
        print(
            f"wall {wall:.2f} s   ideal ceil(N/C)*L {ideal:.2f} s   ratio {wall / ideal:.2f}   "
            f"target wall <= 1.2 x ideal + 2 s = {1.2 * ideal + 2:.2f} s: "
            f"{'met' if wall <= 1.2 * ideal + 2 else 'MISSED'}"
        )

        # Per case = the slope between N/10 and N cases (start-up cancels out), beyond plain pytest's slope.
        def best(*run: str) -> float:
            return min(run_pytest(folder, *run) for _ in range(3))

        cached_run = ["--promptguard", "--promptguard-cache", *concurrency]
        run_pytest(folder, *cached_run, "bench.prompt.yaml")  # fill the cache (small's cases are among them)
        cached, cached_small = best(*cached_run, "bench.prompt.yaml"), best(*cached_run, "small.prompt.yaml")
        plain, plain_small = best("test_plain.py"), best("test_small.py")
        slope = (cached - cached_small) / (args.cases - small) * 1000
        plain_slope = (plain - plain_small) / (args.cases - small) * 1000
        overhead = slope - plain_slope
        print(
            f"cache warm: {cached:.2f} s for {args.cases} cases, {cached_small:.2f} s for {small}: {slope:.2f} ms a "
            "case; "
            f"plain pytest {plain_slope:.2f} ms a test"
        )
        print(
            f"promptguard's overhead per case beyond pytest's own: {overhead:.2f} ms "
            f"(target <= 1 ms: {'met' if overhead <= 1 else 'MISSED'})"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
