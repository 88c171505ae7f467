"""The `python` provider: the application's own function as the model."""

from __future__ import annotations

from .recording import TIMED_RECORDER, calls_time_s, read_records

APP = """
import asyncio, time

def sync_answer(messages, params):
    time.sleep(0.2)
    return "sync " + messages[-1]["content"]

async def async_answer(messages, params):
    await asyncio.sleep(0.2)
    return {"text": "async " + messages[-1]["content"], "usage": {"input_tokens": 3, "output_tokens": 2},
            "model": "app-2.1", "cost_usd": 0.0012, "finish_reason": "stop"}

def broken(messages, params):
    raise RuntimeError("database unavailable")

def wrong_type(messages, params):
    return 42
"""

CONFIG = """
pythonpath: [.]
models:
  sync: {provider: python, callable: "app:sync_answer"}
  async: {provider: python, callable: "app:async_answer"}
  broken: {provider: python, callable: "app:broken"}
  wrong: {provider: python, callable: "app:wrong_type"}
"""


def suite(model: str, n: int) -> str:
    return f"models: [{model}]\ncases:\n" + "".join(
        f"  - {{id: c{i}, prompt: 'q{i}', checks: [{{contains: 'q{i}'}}]}}\n" for i in range(n)
    )


def test_sync_and_async_callables_run_concurrently(pytester, write):
    write("app.py", APP)
    write("promptguard.yaml", CONFIG)
    write("sync.prompt.yaml", suite("sync", 8))
    write("async.prompt.yaml", suite("async", 8))
    pytester.makeconftest(TIMED_RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=16)
    assert calls_time_s(pytester) < 8 * 0.2  # not one after the other
    records = {r["model"]: r for r in read_records(pytester)}
    call = records["async"]["calls"][0]
    assert (call["model_served"], call["cost_usd"], call["finish_reason"]) == ("app-2.1", 0.0012, "stop")
    assert call["usage"]["input_tokens"] == 3 and call["usage"]["estimated"] is False
    assert records["sync"]["calls"][0]["usage"]["estimated"] is True
    assert "no price known" not in result.stdout.str()  # the application's cost is its own business


def test_callable_failures_are_item_errors(pytester, write):
    write("app.py", APP)
    write("promptguard.yaml", CONFIG)
    write("broken.prompt.yaml", suite("broken", 1))
    write("wrong.prompt.yaml", suite("wrong", 1))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*model 'broken' (python, app:broken) failed: callable: app:broken raised RuntimeError: database unavailable*",
            "*model 'wrong' (python, app:wrong_type) failed: bad_response: app:wrong_type returned int; return a str or a dict with 'text'*",
        ]
    )
    assert len([line for line in result.stdout.lines if "attempts" in line]) == 0  # not retried
