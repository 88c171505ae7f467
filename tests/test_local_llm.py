"""A real model on this machine, end to end: Gemma 3 270M behind llama-cpp-python's OpenAI-compatible server,
started by the recipe in examples/local-llm (run_server.py), driven by `pytest --promptguard` as a user runs it.

The integration test is opt-in: `python -m pytest tests -m integration` (it needs `pip install -e ".[local-llm]"`,
which compiles llama.cpp for ~7 minutes; without it the test is skipped and says so). A plain run skips it at
once. The server fixture's own guarantees (its process is the one stopped, terminate then kill, never left
running) are tested in every run against a stand-in process, without the model."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "local-llm"


def _load_recipe():
    spec = importlib.util.spec_from_file_location("local_llm_recipe", EXAMPLE / "run_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


recipe = _load_recipe()


def alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie (its parent has reaped it or it runs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


# --- the server fixture's process handling, with a stand-in server (every run) --------------------------------

STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a server that will not stop when asked
print("up", flush=True)
time.sleep(60)
"""


def test_stop_terminates_the_servers_own_process(tmp_path):
    server = recipe.LocalServer(tmp_path / "none.gguf", command=[sys.executable, "-c", "import time; time.sleep(60)"])
    server.start()
    pid = server.pid
    assert pid == server.process.pid and alive(pid)
    assert server.stop() == -signal.SIGTERM  # asked to stop, and stopped
    assert not alive(pid)
    assert server.stop() == -signal.SIGTERM  # twice is harmless


def test_stop_kills_a_server_that_ignores_terminate_after_the_timeout(tmp_path):
    log = tmp_path / "log"
    with log.open("wb") as out:
        server = recipe.LocalServer(
            tmp_path / "none.gguf", command=[sys.executable, "-c", STUBBORN], log=out, stop_timeout_s=0.5
        )
        server.start()
        for _ in range(100):  # until it has set up its SIGTERM handler
            if log.read_bytes():
                break
            time.sleep(0.05)
        started = time.monotonic()
        assert server.stop() == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5
    assert not alive(server.pid)


def test_a_server_that_dies_at_start_is_an_error_not_a_hang(tmp_path):
    server = recipe.LocalServer(tmp_path / "none.gguf", command=[sys.executable, "-c", "raise SystemExit(3)"])
    server.start()
    with pytest.raises(RuntimeError, match="exited with code 3 before answering"):
        server.wait_ready(timeout_s=30)
    server.stop()


def test_the_server_command_is_the_documented_one(tmp_path):
    command = recipe.server_command(tmp_path / "m.gguf", "127.0.0.1", 8123)
    assert command[:3] == [sys.executable, "-m", "llama_cpp.server"]
    text = " ".join(command[3:])
    assert f"--model {tmp_path / 'm.gguf'} --model_alias gemma-3-270m --host 127.0.0.1 --port 8123" in text
    assert "--chat_format gemma --n_batch 1 --n_ubatch 1" in text


# --- the real model (opt-in: -m integration) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def local_llm(request, tmp_path_factory) -> Iterator[tuple[object, Path]]:
    """The real server, started once for the module by the example's recipe. It keeps the server's own process
    (no shell in between) and stops exactly that process id at the end: terminate, then kill after 10 s. The
    server also dies with this process if pytest itself is killed (PR_SET_PDEATHSIG, Linux)."""
    if "integration" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("integration test: run with -m integration (starts a real model server)")
    missing = recipe.missing_packages()
    if missing:
        pytest.skip(f"needs {' and '.join(missing)}: pip install -e '.[local-llm]' (compiles llama.cpp, ~7 min)")
    model = recipe.ensure_model()
    log_path = tmp_path_factory.mktemp("local-llm") / "server.log"
    with log_path.open("wb") as log:
        server = recipe.LocalServer(model, log=log)
        started = time.monotonic()
        server.start()
        try:
            server.wait_ready(timeout_s=180)
            print(
                f"\nlocal model server ready in {time.monotonic() - started:.1f} s at {server.base_url} "
                f"(pid {server.pid})"
            )
            yield server, log_path
        finally:
            server.stop()
    assert not alive(server.pid), f"the model server (pid {server.pid}) is still running"


def chat_posts(log_path: Path) -> int:
    """Requests the server answered, from its own access log."""
    return len(re.findall(r'"POST /v1/chat/completions HTTP/1\.1" 200', log_path.read_text("utf-8", "replace")))


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


CASES = ["capital", "colours", "story"]


@pytest.mark.integration
def test_a_real_model_records_replays_stays_put_and_drifts(pytester, local_llm, monkeypatch):
    server, server_log = local_llm
    monkeypatch.setenv("LOCAL_LLM_BASE_URL", server.base_url)
    for name in ("promptguard.yaml", "local.prompt.yaml"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    timings: dict[str, float] = {}

    def run(step: str, *args: str):
        started = time.monotonic()
        result = pytester.runpytest("--promptguard", "-p", "no:randomly", f"--promptguard-log={step}.jsonl", *args)
        timings[step] = time.monotonic() - started
        return result, read_log(pytester.path / f"{step}.jsonl")

    # 1. Record goldens against the real server at temperature 0.
    sent = chat_posts(server_log)
    result, calls = run("record", "--promptguard-update")
    result.assert_outcomes(passed=3)
    assert chat_posts(server_log) - sent == 3
    golden = yaml.safe_load((pytester.path / "__golden__" / "local.prompt.golden.yaml").read_text("utf-8"))
    entries = {case: golden["cases"][case]["local"] for case in CASES}
    for call in calls:
        assert call["source"] == "live" and call["tokens_estimated"] is False
        assert call["model_asked"] == call["model_served"] == "gemma-3-270m"  # the alias, not the GGUF's path
        assert call["fingerprint"] is None  # llama-cpp-python sends no system_fingerprint
        assert call["cost_usd"] == 0
        assert call["output"].strip()
    for entry in entries.values():
        assert entry["model_served"] == "gemma-3-270m" and entry["fingerprint"] is None

    # 2. What was recorded is what the server reported: the same request sent by hand gets the same text and
    #    usage (the server is deterministic at temperature 0), and the recorded latency covers the server's own
    #    processing time, with little on top.
    by_case = {call["case"]: call for call in calls}
    for case in CASES:
        call, entry = by_case[case], entries[case]
        body = {"model": "gemma-3-270m", "messages": call["prompt"], "temperature": 0, "max_tokens": 48}
        started = time.monotonic()
        answer = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()
        wall_ms = (time.monotonic() - started) * 1000
        usage = answer["usage"]
        assert answer["choices"][0]["message"]["content"] == call["output"] == entry["output"]
        assert (entry["tokens_in"], entry["tokens_out"]) == (usage["prompt_tokens"], usage["completion_tokens"])
        assert (call["tokens_in"], call["tokens_out"]) == (usage["prompt_tokens"], usage["completion_tokens"])
        [sample] = entry["samples"]
        assert sample["latency_ms"] == pytest.approx(call["latency_ms"], abs=0.1)
        # The same work timed by hand: the recorded latency is of the same size (not a cached or replayed 0).
        assert 0.3 * wall_ms < call["latency_ms"] < 3 * wall_ms + 500, (call["latency_ms"], wall_ms)
        assert call["finish_reason"] == "length" and call["tokens_out"] == 48  # a base model runs to max_tokens
    # The server's own processing time of each recorded request (llama.cpp's `total time`, logged in the order it
    # served them, one at a time: max_concurrency 1) lies inside the latency recorded for it.
    server_ms = server_times(server_log)[:3]
    recorded_ms = [call["latency_ms"] for call in sorted(calls, key=lambda call: call["time"])]
    for own, recorded in zip(server_ms, recorded_ms):
        assert own <= recorded < own + 1000, (server_ms, recorded_ms)
    print(f"\nserver's own ms {server_ms}, recorded latency ms {[round(ms, 1) for ms in recorded_ms]}")

    # What this server does differently (examples/local-llm/README.md): it echoes any model name it is asked for
    # and sends no system_fingerprint; its `gemma` chat format drops system messages.
    def ask(messages: list[dict], model: str = "gemma-3-270m") -> dict:
        body = {"model": model, "messages": messages, "temperature": 0, "max_tokens": 8}
        return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).json()

    plain = ask([{"role": "user", "content": "Hi"}], model="any-name-at-all")
    assert plain["model"] == "any-name-at-all" and plain.get("system_fingerprint") is None
    with_system = ask(
        [{"role": "system", "content": "Answer in French, in capitals."}, {"role": "user", "content": "Hi"}]
    )
    assert with_system["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]
    assert with_system["usage"] == plain["usage"]

    # 3. Replay: no request reaches the server, and every check passes on the goldens.
    sent = chat_posts(server_log)
    result, calls = run("replay", "--promptguard-replay")
    result.assert_outcomes(passed=3)
    assert chat_posts(server_log) == sent
    assert {call["source"] for call in calls} == {"replay"}

    # 4. Live again at temperature 0: the same answers, no drift.
    result, calls = run("live")
    result.assert_outcomes(passed=3)
    assert chat_posts(server_log) - sent == 3
    assert {call["case"]: call["output"] for call in calls} == {case: entries[case]["output"] for case in CASES}
    assert "drift" not in "".join(line for line in result.outlines if "✗" in line)

    # 5. The same model sampled at temperature 1.0 (seed 7), judged against the goldens: drift is found.
    result, calls = run("hot", "--promptguard-candidate", "local=local-hot")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    assert "✗ golden: output drifted from the golden" in result.stdout.str()
    assert "upgrade local → local-hot" in result.stdout.str()
    assert any(call["output"] != entries[call["case"]]["output"] for call in calls)

    # 6. Streamed at temperature 0: the same answers as the goldens, with a time to first token.
    result, calls = run("stream", "--promptguard-candidate", "local=local-stream")
    result.assert_outcomes(passed=3)
    for call in calls:
        assert call["output"] == entries[call["case"]]["output"]
        assert 0 < call["ttft_ms"] <= call["latency_ms"]
        # llama-cpp-python ignores stream_options.include_usage: a streamed answer has no usage, so its tokens are
        # estimated (~4 characters a token) and marked so.
        assert call["tokens_estimated"] is True

    # 7. Editing the sampling parameter in place makes the goldens stale (an error naming the fix), not drift.
    config = pytester.path / "promptguard.yaml"
    config.write_text(
        config.read_text("utf-8").replace(
            "params: {temperature: 0, max_tokens: 48}", "params: {temperature: 0.7, max_tokens: 48}", 1
        ),
        "utf-8",
    )
    sent = chat_posts(server_log)
    result, _ = run("stale", "--promptguard-replay")
    assert result.ret != 0
    assert "prompt changed since the golden was recorded" in result.stdout.str()
    assert chat_posts(server_log) == sent

    print("\nsteps (s): " + ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items()))


def server_times(log_path: Path) -> list[float]:
    """The server's own per-request processing times (llama.cpp's `total time = X ms`), in order."""
    return [float(x) for x in re.findall(r"total time =\s*([\d.]+) ms", log_path.read_text("utf-8", "replace"))]
