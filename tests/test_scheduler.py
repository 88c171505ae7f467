"""The call engine against a local server: concurrency, retries, timeouts, budgets, cache, repeat, SLOs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from pytest_promptguard.call.limits import RateLimiter
from pytest_promptguard.call.scheduler import BACKOFF_BASE_S
from pytest_promptguard.core.results import percentile
from pytest_promptguard.providers.http import retry_after

from .recording import RECORDER, read_records
from .servers import Reply, chat_completion, last_user_message


def cases(n: int, check: str = "{contains: echo}", prefix: str = "p") -> str:
    return "cases:\n" + "".join(f"  - {{id: c{i}, prompt: '{prefix}{i}', checks: [{check}]}}\n" for i in range(n))


def slow(delay_s: float):
    return lambda request, headers: Reply(body=chat_completion("echo " + last_user_message(request)), delay_s=delay_s)


def test_calls_run_concurrently_bounded_per_model(pytester, write, model_server, openai_config):
    openai_config(max_concurrency=3)
    model_server.responder = slow(0.2)
    write("many.prompt.yaml", cases(9))
    pytester.runpytest("--promptguard").assert_outcomes(passed=9)
    assert model_server.max_in_flight == 3
    # Timed at the server, from the first request to the last answer: about ceil(9/3) x 0.2 s, far from 9 x 0.2 s.
    assert max(model_server.answered) - min(model_server.arrived) < 9 * 0.2 * 0.6


def test_global_concurrency_option_bounds_all_models(pytester, write, model_server, openai_config):
    openai_config(max_concurrency=8)
    model_server.responder = slow(0.1)
    write("many.prompt.yaml", cases(8))
    pytester.runpytest("--promptguard", "--promptguard-concurrency", "2").assert_outcomes(passed=8)
    assert model_server.max_in_flight == 2


def flaky(first: Reply):
    """Answers `first` to the first request for each prompt, then a good answer."""
    seen: set[str] = set()
    lock = threading.Lock()

    def respond(request, headers):
        message = last_user_message(request)
        with lock:
            again = message in seen
            seen.add(message)
        return Reply(body=chat_completion("echo " + message)) if again else first

    return respond


# Twice the longest first backoff the scheduler picks by itself (BACKOFF_BASE_S, jittered down to half): a wait this
# long between the 429 and the next attempt is the server's Retry-After obeyed, and nothing else.
RETRY_AFTER_S = 2 * BACKOFF_BASE_S


@pytest.mark.parametrize(
    "header", [{"Retry-After": f"{RETRY_AFTER_S:g}"}, {"retry-after-ms": f"{RETRY_AFTER_S * 1000:g}"}], ids=str
)
def test_429_with_retry_after_then_success(pytester, write, model_server, openai_config, header):
    openai_config(max_backoff_s=5)
    model_server.responder = flaky(Reply(status=429, body={"error": {"message": "slow down"}}, headers=header))
    write("one.prompt.yaml", cases(1))
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1)
    assert len(model_server.requests) == 2
    # Timed at the server: from the 429 sent to the next attempt come in.
    assert model_server.arrived[1] - model_server.answered[0] >= RETRY_AFTER_S
    assert read_records(pytester)[0]["calls"][0]["attempts"] == 2
    result.stdout.fnmatch_lines(["warning: 1 call(s) needed retries (1 retries in all)"])


def test_retry_after_is_capped_by_max_backoff(pytester, write, model_server, openai_config):
    openai_config(max_backoff_s=0.05)
    model_server.responder = flaky(Reply(status=503, body="busy", headers={"Retry-After": "30"}))
    write("one.prompt.yaml", cases(1))
    pytester.runpytest("--promptguard").assert_outcomes(passed=1)
    # Timed at the server: from the 503 sent to the next attempt come in, about 0.05 s, far from the 30 s asked.
    assert model_server.arrived[1] - model_server.answered[0] < 1


def test_500_then_success(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = flaky(Reply(status=500, body={"error": {"message": "boom"}}))
    write("one.prompt.yaml", cases(1))
    pytester.runpytest("--promptguard").assert_outcomes(passed=1)
    assert len(model_server.requests) == 2


def test_persistent_500_gives_up_after_retries(pytester, write, model_server, openai_config):
    openai_config(retries=2)
    model_server.responder = lambda request, headers: Reply(status=502, body={"error": {"message": "bad gateway"}})
    write("one.prompt.yaml", cases(1))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert len(model_server.requests) == 3
    result.stdout.fnmatch_lines(["*failed after 3 attempts: http (HTTP 502)*bad gateway*"])


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_fail_at_once(pytester, write, model_server, openai_config, status):
    openai_config()
    model_server.responder = lambda request, headers: Reply(status=status, body={"error": {"message": "nope"}})
    write("one.prompt.yaml", cases(1))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert len(model_server.requests) == 1
    result.stdout.fnmatch_lines([f"*(HTTP {status}): HTTP {status} from *: nope*"])


def test_cost_from_builtin_prices_and_override(pytester, write, model_server, openai_config):
    openai_config(
        models={
            "custom": {
                "provider": "openai",
                "model": "my-finetune",
                "base_url": model_server.url,
                "price": {"input_per_mtok": 2.0, "output_per_mtok": 4.0},
            },
            "unknown": {"provider": "openai", "model": "mystery-1", "base_url": model_server.url},
        }
    )
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion("echo hi", model=request["model"], prompt_tokens=1000, completion_tokens=500)
    )
    write("one.prompt.yaml", "models: [fast, custom, unknown]\n" + cases(1))
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=3)
    cost = {r["model"]: r["calls"][0]["cost_usd"] for r in read_records(pytester)}
    assert cost["fast"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)  # gpt-4o-mini
    assert cost["custom"] == pytest.approx((1000 * 2.0 + 500 * 4.0) / 1e6)
    assert cost["unknown"] is None
    result.stdout.fnmatch_lines(["warning: no price known for: unknown (mystery-1); their cost is unknown (not 0)*"])


def test_cost_check(pytester, write, model_server, openai_config):
    openai_config(price={"input_per_mtok": 1000.0, "output_per_mtok": 1000.0})
    write("one.prompt.yaml", cases(2, "{cost: {max_usd: 0.01}}").replace("prompt: 'p1'", "prompt: 'p1', params: {}"))
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion("echo", prompt_tokens=5 if last_user_message(request) == "p0" else 50, completion_tokens=1)
    )
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*cost: $0.051000 > max $0.01*"])


def test_run_budget_stops_new_calls(pytester, write, model_server, openai_config):
    # Each call costs $1 (1 token in at $1M/Mtok); one at a time, so the budget is seen before each send.
    openai_config(max_concurrency=1, price={"input_per_mtok": 1_000_000.0, "output_per_mtok": 0.0})
    model_server.responder = lambda request, headers: Reply(body=chat_completion("echo", prompt_tokens=1))
    write("many.prompt.yaml", cases(5))
    result = pytester.runpytest("--promptguard", "--promptguard-max-cost", "2")
    result.assert_outcomes(passed=2, errors=3)
    assert len(model_server.requests) == 2
    result.stdout.fnmatch_lines(["*budget exhausted: $2.00 spent of $2 (--promptguard-max-cost); no call sent*"])
    assert result.ret == 1


def test_suite_budget(pytester, write, model_server, openai_config):
    openai_config(max_concurrency=1, price={"input_per_mtok": 1_000_000.0, "output_per_mtok": 0.0})
    model_server.responder = lambda request, headers: Reply(body=chat_completion("echo", prompt_tokens=1))
    write("a.prompt.yaml", "budget_usd: 1\n" + cases(3))
    write("b.prompt.yaml", cases(2))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*budget exhausted*budget_usd of suite 'a'*"])


def test_cache_hits_skip_the_server(pytester, write, model_server, openai_config):
    openai_config()
    write("many.prompt.yaml", cases(3))
    pytester.runpytest("--promptguard", "--promptguard-cache").assert_outcomes(passed=3)
    assert len(model_server.requests) == 3
    cache_files = list((pytester.path / ".promptguard" / "cache").rglob("*.json"))
    assert len(cache_files) == 3
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard", "--promptguard-cache")
    result.assert_outcomes(passed=3)
    assert len(model_server.requests) == 3  # nothing new sent
    assert {c["source"] for r in read_records(pytester) for c in r["calls"]} == {"cache"}
    result.stdout.fnmatch_lines(
        ["many * fast * 3 * 3 * 0 * 0 * - * - *", "warning: 3 call(s) answered from the response cache*"]
    )
    # A corrupt entry is a miss, replaced by a fresh answer.
    cache_files[0].write_text("{not json")
    pytester.runpytest("--promptguard", "--promptguard-cache").assert_outcomes(passed=3)
    assert len(model_server.requests) == 4
    json.loads(cache_files[0].read_text())
    # Expired entries are misses; without the flag the cache is not used at all.
    pytester.runpytest("--promptguard", "--promptguard-cache", "--promptguard-cache-ttl", "0s").assert_outcomes(
        passed=3
    )
    assert len(model_server.requests) == 7
    pytester.runpytest("--promptguard").assert_outcomes(passed=3)
    assert len(model_server.requests) == 10


def test_repeat_and_min_pass_rate(pytester, write, model_server, openai_config):
    openai_config()
    answers = iter(["the answer is 42", "the answer is 42", "no idea"] * 10)
    lock = threading.Lock()

    def respond(request, headers):
        with lock:
            return Reply(body=chat_completion(next(answers)))

    model_server.responder = respond
    write(
        "s.prompt.yaml",
        """
        cases:
          - {id: lenient, prompt: q, repeat: 3, min_pass_rate: 0.6, checks: [{contains: "42"}]}
    """,
    )
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1)
    assert len(model_server.requests) == 3
    record = read_records(pytester)[0]
    assert len(record["calls"]) == 3 and record["pass_rate"] == pytest.approx(2 / 3)
    write(
        "s.prompt.yaml",
        """
        cases:
          - {id: strict, prompt: q, repeat: 3, checks: [{contains: "42"}]}
    """,
    )
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "2/3 samples passed (67% < min_pass_rate 100%); latency p50 * ms, p95 * ms, max * ms",
            "sample ?/3: 1 of 1 checks failed",
        ]
    )


def test_repeat_option_overrides_every_case(pytester, write, model_server, openai_config):
    openai_config()
    write("s.prompt.yaml", cases(2))
    pytester.runpytest("--promptguard", "--promptguard-repeat", "4").assert_outcomes(passed=2)
    assert len(model_server.requests) == 8


def test_latency_checks(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = slow(0.15)
    write(
        "s.prompt.yaml",
        """
        cases:
          - {id: fast-enough, prompt: a, checks: [{latency: {max_ms: 5000}}]}
          - {id: too-slow, prompt: b, checks: [{latency: {max_ms: 50}}]}
          - {id: p95, prompt: c, repeat: 3, checks: [{latency: {p95_ms: 50}}]}
    """,
    )
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1, failed=2)
    # The figures shown are the latencies measured, none shorter than the server took to answer.
    latencies = {r["case"]: [c["latency_ms"] for c in r["calls"]] for r in read_records(pytester)}
    assert min(min(values) for values in latencies.values()) >= 150
    result.stdout.fnmatch_lines(
        [
            f"*latency: 1 of 1 samples over 50 ms (max {max(latencies['too-slow']):.0f} ms)*",
            f"*latency: p95 {percentile(latencies['p95'], 95):.0f} ms > 50 ms over 3 samples*",
        ]
    )


def test_suite_slo_item(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = slow(0.1)
    write("slow.prompt.yaml", "slo: {p95_ms: 30}\n" + cases(3))
    write("ok.prompt.yaml", "slo: {p50_ms: 5000, p95_ms: 5000}\n" + cases(2))
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard", "-v")
    result.assert_outcomes(passed=3 + 2 + 1, failed=1)
    latencies = [c["latency_ms"] for r in read_records(pytester) if r["suite"] == "slow" for c in r["calls"]]
    assert len(latencies) == 3 and min(latencies) >= 100  # none shorter than the server took to answer
    result.stdout.fnmatch_lines(
        [
            "*slow.prompt.yaml::slo[[]fast[]] FAILED*",
            f"*latency SLO broken for model 'fast' over 3 live calls: p95 {percentile(latencies, 95):.0f} ms > target 30 ms*",
        ]
    )


def test_exitfirst_cancels_calls_not_yet_sent(pytester, write, model_server, openai_config):
    openai_config(max_concurrency=1)
    model_server.responder = slow(0.1)
    write("many.prompt.yaml", cases(30).replace("p0', checks: [{contains: echo}]", "p0', checks: [{contains: never}]"))
    result = pytester.runpytest("--promptguard", "-x")
    ended = time.perf_counter()
    result.assert_outcomes(failed=1)
    assert ended - model_server.answered[0] < 1.5  # from the failing answer to the end of the run
    assert len(model_server.requests) < 5


@pytest.mark.slow
def test_ctrl_c_stops_promptly_without_sending_the_rest(pytester, write, model_server, openai_config):
    openai_config(max_concurrency=1)
    model_server.responder = slow(0.2)
    write("many.prompt.yaml", cases(40))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--promptguard", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 10
    while len(model_server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=10)
    assert time.monotonic() - interrupted < 5
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    sent = len(model_server.requests)
    time.sleep(0.5)
    assert len(model_server.requests) == sent < 10  # of 40: the calls not yet sent never are


def test_cache_never_stores_keys(pytester, write, model_server, openai_config, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-canary-cache-999")
    openai_config(api_key_env="TEST_LLM_KEY")
    write("one.prompt.yaml", cases(2))
    pytester.runpytest("--promptguard", "--promptguard-cache").assert_outcomes(passed=2)
    files = list((pytester.path / ".promptguard").rglob("*"))
    assert files and not any(f.is_file() and "sk-canary" in f.read_text() for f in files)
    assert all(h["authorization"] == "Bearer sk-canary-cache-999" for h in model_server.headers)


@pytest.mark.slow
def test_workers_start_their_calls_up_front(pytester, write, model_server, openai_config):
    openai_config(max_concurrency=8)
    model_server.responder = slow(0.3)
    write("a.prompt.yaml", cases(6))
    write("b.prompt.yaml", cases(6, prefix="q"))
    result = pytester.runpytest("--promptguard", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    assert len(model_server.requests) == 12  # every call made once
    assert model_server.max_in_flight > 2  # each worker calls its whole share concurrently


def test_retry_after_parsing():
    assert retry_after(httpx.Headers({"Retry-After": "2"})) == 2
    assert retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 28 <= retry_after(httpx.Headers({"Retry-After": format_datetime(later, usegmt=True)})) <= 30
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_rate_limiter_windows():
    now = [0.0]
    limiter = RateLimiter(rpm=2, tpm=1000, clock=lambda: now[0])
    limiter._events.extend([[0.0, 100.0], [10.0, 100.0]])
    assert limiter._wait_needed(20.0, 10) == pytest.approx(40.0)  # 2 requests in the window: wait for the first
    limiter = RateLimiter(tpm=1000, clock=lambda: now[0])
    limiter._events.extend([[0.0, 600.0], [30.0, 300.0]])
    assert limiter._wait_needed(40.0, 50) == 0
    assert limiter._wait_needed(40.0, 200) == pytest.approx(20.0)  # the 600 must age out first
    assert limiter._wait_needed(61.0, 200) == 0
