"""Calls to an OpenAI-compatible server: what is recorded, and how provider failures look."""

from __future__ import annotations

import json

import pytest

from .recording import TIMED_RECORDER, calls_time_s
from .servers import Reply, chat_completion

SUITE = """
cases:
  - id: greet
    prompt: "Say hello to {{name}}"
    vars: {name: Ada}
    checks:
      - contains: hello
"""


def test_passing_case_records_call(pytester, write, model_server, openai_config):
    openai_config(params={"temperature": 0, "max_tokens": 50})
    model_server.answers["Say hello to Ada"] = "hello Ada, nice to meet you"
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "-v", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*greet.prompt.yaml::greet?fast? PASSED*", "*promptguard*", "greet *fast * 1 * 1 *"])
    request = model_server.requests[0]
    assert request == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say hello to Ada"}],
        "temperature": 0,
        "max_tokens": 50,
    }
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="promptguard_model_served" value="test-model-2024-01-01"' in junit
    assert 'name="promptguard_tokens_in" value="12"' in junit


def test_record_rides_on_report(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion(
            "hello there",
            model="gpt-4o-mini-2024-07-18",
            fingerprint="fp_abc",
            prompt_tokens=7,
            completion_tokens=2,
            finish_reason="length",
        )
    )
    write("greet.prompt.yaml", SUITE)
    records = []
    pytester.makeconftest(
        """
        import json
        def pytest_runtest_logreport(report):
            if getattr(report, "promptguard", None):
                with open("records.jsonl", "a") as f:
                    f.write(json.dumps(report.promptguard) + "\\n")
        """
    )
    pytester.runpytest("--promptguard").assert_outcomes(passed=1)
    records = [json.loads(line) for line in (pytester.path / "records.jsonl").read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert record["format_version"] == 1
    assert (record["suite"], record["case"], record["model"], record["outcome"]) == ("greet", "greet", "fast", "passed")
    call = record["calls"][0]
    assert call["model_asked"] == "gpt-4o-mini"
    assert call["model_served"] == "gpt-4o-mini-2024-07-18"
    assert call["fingerprint"] == "fp_abc"
    assert call["finish_reason"] == "length"
    assert call["usage"] == {
        "input_tokens": 7,
        "output_tokens": 2,
        "cached_input_tokens": None,
        "estimated": False,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
    }
    assert call["latency_ms"] > 0
    assert call["tool_calls"] == []
    assert record["checks"][0][0]["name"] == "contains" and record["checks"][0][0]["passed"] is True


def test_missing_usage_is_estimated_and_said(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = lambda request, headers: Reply(body=chat_completion("hello world", prompt_tokens=None))
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 call(s) reported no token usage*estimated*"])


def test_api_key_sent_from_env_and_never_printed(pytester, write, model_server, openai_config, monkeypatch):
    openai_config(api_key_env="TEST_LLM_KEY")
    monkeypatch.setenv("TEST_LLM_KEY", "sk-canary-123456")
    model_server.responder = lambda request, headers: Reply(
        status=401, body={"error": {"message": "Incorrect API key"}}
    )
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "--junitxml=junit.xml")
    result.assert_outcomes(errors=1)
    assert model_server.headers[0]["authorization"] == "Bearer sk-canary-123456"
    result.stdout.fnmatch_lines(["*model 'fast' (openai, gpt-4o-mini) failed: auth (HTTP 401)*Incorrect API key*"])
    assert "sk-canary" not in result.stdout.str() + result.stderr.str()
    assert "sk-canary" not in (pytester.path / "junit.xml").read_text()


def test_missing_key_env_is_an_error_naming_the_variable(pytester, write, model_server, openai_config, monkeypatch):
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    openai_config(api_key_env="TEST_LLM_KEY")
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*environment variable TEST_LLM_KEY is not set*"])
    assert model_server.requests == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(status=500, body={"error": {"message": "upstream overloaded"}}),
            "*http (HTTP 500): HTTP 500 from http://127.0.0.1:*/v1/chat/completions: upstream overloaded*",
        ),
        (
            Reply(status=404, body={"error": {"message": "The model `gpt-9` does not exist"}}),
            "*(HTTP 404)*does not exist*",
        ),
        (Reply(body="<html>oops</html>"), "*bad_response*answered HTTP 200 with a body that is not a JSON object*"),
        (Reply(body={"id": "x"}), "*bad_response*answered without 'choices'*"),
    ],
    ids=["500", "404", "not-json", "no-choices"],
)
def test_provider_failures_are_item_errors(pytester, write, model_server, openai_config, reply, expected):
    openai_config()
    model_server.responder = lambda request, headers: reply
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of greet::greet[[]fast[]]*", expected, "*provider error, not a check failure*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_connection_refused_names_the_url(pytester, write, openai_config):
    openai_config(base_url="http://127.0.0.1:9/v1")
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*connection*cannot reach http://127.0.0.1:9/v1/chat/completions*"])


def test_hanging_server_times_out(pytester, write, model_server, openai_config):
    openai_config(timeout_s=0.3, retries=1, max_backoff_s=0)
    model_server.responder = lambda request, headers: Reply(body=chat_completion("late"), delay_s=2)
    write("greet.prompt.yaml", SUITE)
    pytester.makeconftest(TIMED_RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*failed after 2 attempts: timeout: no answer from http://127.0.0.1:*/v1/chat/completions within 0.3 s*"]
    )
    assert calls_time_s(pytester) < 1.5  # two attempts of 0.3 s, not the server's 2 s


def test_urls_are_shown_without_credentials(pytester, write, model_server, openai_config):
    openai_config(base_url=model_server.url.replace("http://", "http://user:sk-canary-url-7@"), retries=0)
    model_server.responder = lambda request, headers: Reply(status=500, body={"error": {"message": "boom"}})
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "--promptguard-log=calls.jsonl")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*HTTP 500 from http://127.0.0.1:*/v1/chat/completions: boom*"])
    assert "sk-canary-url-7" not in result.stdout.str() + (pytester.path / "calls.jsonl").read_text()
