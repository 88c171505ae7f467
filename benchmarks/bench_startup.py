"""How long from `pytest --promptguard` to the first request a model server sees?

Starts a local OpenAI-compatible server that notes, when the first request arrives, the wall time since the
pytest process was spawned and the CPU time (user + sys, all threads) that process has used so far. Runs a one-case
suite against it RUNS times in each setting and prints the medians:

  - bytecode off: PYTHONDONTWRITEBYTECODE=1 (many CI images set it): no .pyc is written, so every module pytest's
    assertion rewriter takes on is parsed and compiled again on every start
  - bytecode on: cached .pyc files (written by one warm-up run into a private PYTHONPYCACHEPREFIX)

and, in each setting, the whole `--collect-only` of the same suite, and pytest's own floor (`--collect-only` without
`--promptguard`, the same plugins) for reference. The package is installed for the run as a wheel installs it (a
dist-info whose RECORD lists the package's files, beside `src/` on PYTHONPATH): pytest then marks every module of
the plugin's distribution for assertion rewriting, which an editable install hides.

    python benchmarks/bench_startup.py            # 7 runs a figure
    python benchmarks/bench_startup.py --runs 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TARGET_S = 0.5
SRC = Path(__file__).resolve().parent.parent / "src"
# Plugins of the development environment that a user of promptguard does not get with it (hypothesis is a dev
# dependency): their start-up is not charged to promptguard.
UNRELATED_PLUGINS = ["-p", "no:hypothesispytest", "-p", "no:benchmark"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class FirstCall:
    """When the first request of the process `pid` arrived: wall seconds since `spawned`, CPU seconds used."""

    pid: int = 0
    spawned: float = 0.0
    wall: float | None = None
    cpu: float | None = None


def cpu_of(pid: int) -> float | None:
    """User + system CPU seconds of a running process, all its threads (Linux: /proc; elsewhere None)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def serve(first: FirstCall) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            if first.wall is None:
                first.wall = time.perf_counter() - first.spawned
                first.cpu = cpu_of(first.pid)
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
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

    class Server(ThreadingHTTPServer):
        request_queue_size = 64
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def install_as_wheel(site: Path, src: Path = SRC) -> None:
    """A dist-info as `pip install` of a wheel leaves it: RECORD lists the package's modules, entry_points.txt the
    pytest11 plugin. pytest marks a plugin distribution's packages for assertion rewriting from that RECORD."""
    info = site / "pytest_promptguard-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pytest-promptguard\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\npromptguard = pytest_promptguard.plugin\n")
    files = sorted(p.relative_to(src).as_posix() for p in (src / "pytest_promptguard").rglob("*") if p.is_file())
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files if "__pycache__" not in f))


def write_suite(folder: Path, url: str) -> None:
    (folder / "promptguard.yaml").write_text(
        json.dumps(
            {
                "default_models": ["fast"],
                "models": {"fast": {"provider": "openai", "model": "gpt-4o-mini", "base_url": url}},
            }
        )
    )
    (folder / "hello.prompt.yaml").write_text("cases:\n  - {id: hello, prompt: hello, checks: [{contains: ok}]}\n")


def pytest_process(folder: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], float]:
    spawned = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *UNRELATED_PLUGINS, *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, spawned


def finish(process: subprocess.Popen[str], spawned: float, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys, from the kernel's accounting) of the whole process."""
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - spawned
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in ok:
        sys.exit(f"pytest failed ({process.returncode}):\n{output[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def to_first_call(folder: Path, env: dict[str, str], first: FirstCall) -> tuple[float, float]:
    first.wall = first.cpu = None
    process, first.spawned = pytest_process(folder, env, "--promptguard")
    first.pid = process.pid
    finish(process, first.spawned)
    if first.wall is None:
        sys.exit("the run made no call")
    return first.wall, first.cpu if first.cpu is not None else float("nan")


def whole(folder: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    process, spawned = pytest_process(folder, env, *args)
    return finish(process, spawned, ok=(0, 5))  # 5: pytest's floor collects nothing


def median_of(runs: int, measure: object) -> tuple[float, float]:
    samples = [measure() for _ in range(runs)]  # type: ignore[operator]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (the median is printed)")
    args = parser.parse_args()
    first = FirstCall()
    server = serve(first)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site, folder, empty = root / "site", root / "suite", root / "empty"
        install_as_wheel(site)
        folder.mkdir()
        empty.mkdir()
        write_suite(folder, f"http://127.0.0.1:{server.server_address[1]}/v1")
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        base["PYTHONPATH"] = os.pathsep.join([str(site), str(SRC)])
        base["OPENAI_API_KEY"] = "sk-bench"
        settings = {
            "bytecode off (PYTHONDONTWRITEBYTECODE=1)": {**base, "PYTHONDONTWRITEBYTECODE": "1"},
            "bytecode on  (cached .pyc)": {**base, "PYTHONPYCACHEPREFIX": str(root / "pycache")},
        }
        print(f"{args.runs} runs a figure, medians; CPU = user + sys of the pytest process; {os.cpu_count()} CPUs")
        for name, env in settings.items():
            to_first_call(folder, env, first)  # warm-up: the page cache, and the .pyc files when they are written
            wall, cpu = median_of(args.runs, lambda env=env: to_first_call(folder, env, first))
            verdict = "met" if wall <= TARGET_S else "MISSED"
            print(f"{name}")
            print(
                f"  to the first call             wall {wall:5.2f} s  cpu {cpu:5.2f} s  target {TARGET_S} s: {verdict}"
            )
            wall, cpu = median_of(args.runs, lambda env=env: whole(folder, env, "--promptguard", "--collect-only"))
            print(f"  --promptguard --collect-only wall {wall:5.2f} s  cpu {cpu:5.2f} s")
            wall, cpu = median_of(args.runs, lambda env=env: whole(empty, env, "--collect-only"))
            print(f"  pytest alone (--collect-only) wall {wall:5.2f} s  cpu {cpu:5.2f} s")
    server.shutdown()


if __name__ == "__main__":
    main()
