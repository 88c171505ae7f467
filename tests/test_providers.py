"""The Anthropic, Gemini and Ollama providers against a local server: what they send, what they record."""

from __future__ import annotations

import pytest
import yaml

from pytest_promptguard.config.loader import DEFAULT_BASE_URLS, Config
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.providers import make_provider

from .recording import RECORDER, read_records
from .servers import Reply, anthropic_message, gemini_response, ollama_chat

CANARY = "canary-key-8472"

SUITE = """
cases:
  - id: greet
    prompt:
      - {role: system, content: "Be brief."}
      - {role: user, content: "Hi"}
      - {role: assistant, content: "Hello!"}
      - {role: user, content: "Say hello to {{name}}"}
    vars: {name: Ada}
    checks:
      - contains: hello Ada
      - not_contains: thinking
"""

TOOL_SUITE = """
cases:
  - id: weather
    prompt: "Weather in Paris?"
    checks: [{not_contains: sunny}]
"""


PRICE = {"input_per_mtok": 2.0, "cached_input_per_mtok": 0.5, "output_per_mtok": 8.0}

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def configure(pytester):
    """Write promptguard.yaml with one model `main` of the given provider."""

    def configure(provider: str, base_url: str, model: str, **extra: object) -> None:
        spec = {"provider": provider, "model": model, "base_url": base_url, "timeout_s": 5, **extra}
        data = {"default_models": ["main"], "models": {"main": spec}}
        (pytester.path / "promptguard.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    return configure


@pytest.fixture
def run(pytester, write):
    """Run `pytest --promptguard` on one suite; returns the result and the records the items reported."""

    def run(suite: str, *args: str):
        write("case.prompt.yaml", suite)
        pytester.makeconftest(RECORDER)
        result = pytester.runpytest("--promptguard", "--junitxml=junit.xml", *args)
        output = result.stdout.str() + result.stderr.str() + (pytester.path / "junit.xml").read_text()
        assert CANARY not in output
        return result, read_records(pytester)

    return run


def only_call(records: list[dict]) -> dict:
    assert len(records) == 1 and len(records[0]["calls"]) == 1
    return records[0]["calls"][0]


# Anthropic


def test_anthropic_messages_request_and_record(run, configure, model_server, monkeypatch):
    monkeypatch.setenv("PG_ANTHROPIC_KEY", CANARY)
    configure(
        "anthropic",
        model_server.url,
        "claude-x",
        api_key_env="PG_ANTHROPIC_KEY",
        params={"temperature": 0},
        price=PRICE,
    )
    usage = {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 3}
    model_server.responder = lambda request, headers: Reply(body=anthropic_message("hello Ada", usage=usage))
    result, records = run(SUITE)
    result.assert_outcomes(passed=1)
    assert model_server.paths == ["/v1/messages"]
    assert model_server.requests[0] == {
        "model": "claude-x",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Say hello to Ada"},
        ],
        "max_tokens": 1024,
        "temperature": 0,
    }
    headers = model_server.headers[0]
    assert (headers["x-api-key"], headers["anthropic-version"]) == (CANARY, "2023-06-01")
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    call = only_call(records)
    assert (call["provider"], call["model_asked"], call["model_served"]) == (
        "anthropic",
        "claude-x",
        "claude-test-20250101",
    )
    assert call["finish_reason"] == "end_turn"
    # Anthropic's input_tokens excludes cache reads and writes: the record counts the whole prompt.
    assert call["usage"] == {
        "input_tokens": 125,
        "output_tokens": 3,
        "cached_input_tokens": 100,
        "estimated": False,
        "cache_write_tokens": 20,
        "reasoning_tokens": None,
    }
    assert call["cost_usd"] == pytest.approx((25 * 2.0 + 100 * 0.5 + 3 * 8.0) / 1e6)


def test_anthropic_tool_use_blocks_become_tool_calls(run, configure, model_server):
    configure("anthropic", model_server.url, "claude-x", params={"max_tokens": 50, "tools": [WEATHER_TOOL]})
    body = anthropic_message(
        "Let me check.",
        tool_uses=[{"id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        stop_reason="tool_use",
        usage={"input_tokens": 40, "output_tokens": 12},
    )
    model_server.responder = lambda request, headers: Reply(body=body)
    result, records = run(TOOL_SUITE)
    result.assert_outcomes(passed=1)
    request = model_server.requests[0]
    assert request["max_tokens"] == 50 and request["tools"] == [WEATHER_TOOL]
    assert "system" not in request and "x-api-key" not in model_server.headers[0]
    call = only_call(records)
    assert call["text"] == "Let me check."
    assert call["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}]
    assert call["finish_reason"] == "tool_use"
    assert call["usage"] == {
        "input_tokens": 40,
        "output_tokens": 12,
        "cached_input_tokens": None,
        "estimated": False,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
    }


def test_anthropic_error_body_is_an_item_error(run, configure, model_server, monkeypatch):
    monkeypatch.setenv("PG_ANTHROPIC_KEY", CANARY)
    configure("anthropic", model_server.url, "claude-x", api_key_env="PG_ANTHROPIC_KEY")
    error = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    model_server.responder = lambda request, headers: Reply(status=401, body=error)
    result, _ = run(SUITE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*model 'main' (anthropic, claude-x) failed: auth (HTTP 401): HTTP 401 from http://127.0.0.1:*/v1/messages: "
            "invalid x-api-key*",
        ]
    )


# Gemini


def test_gemini_generate_content_request_and_record(run, configure, model_server, monkeypatch):
    monkeypatch.setenv("PG_GEMINI_KEY", CANARY)
    params = {"temperature": 0, "max_tokens": 64, "top_p": 0.9, "stop": "END", "topK": 40}
    configure(
        "gemini", f"{model_server.root}/v1beta", "gemini-flash", api_key_env="PG_GEMINI_KEY", params=params, price=PRICE
    )
    usage = {
        "promptTokenCount": 20,
        "candidatesTokenCount": 4,
        "thoughtsTokenCount": 6,
        "cachedContentTokenCount": 8,
        "totalTokenCount": 30,
    }
    body = gemini_response(
        {"text": "thinking about it", "thought": True}, {"text": "hello "}, {"text": "Ada"}, usage=usage
    )
    model_server.responder = lambda request, headers: Reply(body=body)
    result, records = run(SUITE)
    result.assert_outcomes(passed=1)
    assert model_server.paths == ["/v1beta/models/gemini-flash:generateContent"]  # no query string: no key
    assert model_server.headers[0]["x-goog-api-key"] == CANARY
    assert model_server.requests[0] == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Say hello to Ada"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0,
            "maxOutputTokens": 64,
            "topP": 0.9,
            "stopSequences": ["END"],
            "topK": 40,
        },
    }
    call = only_call(records)
    assert call["text"] == "hello Ada"
    assert (call["model_served"], call["finish_reason"]) == ("gemini-test-001", "STOP")
    # Thinking tokens are billed as output; promptTokenCount already includes the cached tokens.
    assert call["usage"] == {
        "input_tokens": 20,
        "output_tokens": 10,
        "cached_input_tokens": 8,
        "estimated": False,
        "cache_write_tokens": None,
        "reasoning_tokens": 6,
    }
    assert call["cost_usd"] == pytest.approx((12 * 2.0 + 8 * 0.5 + 10 * 8.0) / 1e6)


def test_gemini_function_call_parts_become_tool_calls(run, configure, model_server):
    tools = [{"functionDeclarations": [WEATHER_TOOL]}]
    configure("gemini", f"{model_server.root}/v1beta", "gemini-flash", params={"tools": tools, "max_tokens": 20})
    body = gemini_response(
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        usage={"promptTokenCount": 30, "candidatesTokenCount": 5},
    )
    model_server.responder = lambda request, headers: Reply(body=body)
    result, records = run(TOOL_SUITE)
    result.assert_outcomes(passed=1)
    request = model_server.requests[0]
    assert request["tools"] == tools and request["generationConfig"] == {"maxOutputTokens": 20}
    assert "systemInstruction" not in request and "x-goog-api-key" not in model_server.headers[0]
    call = only_call(records)
    assert call["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": None}]
    assert call["usage"] == {
        "input_tokens": 30,
        "output_tokens": 5,
        "cached_input_tokens": None,
        "estimated": False,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(
                status=400,
                body={
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            ),
            "*(gemini, gemini-flash) failed: http (HTTP 400): HTTP 400 from http://127.0.0.1:*/v1beta/models/"
            "gemini-flash:generateContent: API key not valid. Please pass a valid API key.",
        ),
        (
            Reply(body={"promptFeedback": {"blockReason": "SAFETY"}}),
            "*(gemini, gemini-flash) failed: bad_response: *:generateContent answered with the prompt was blocked (SAFETY)",
        ),
    ],
    ids=["bad-key", "blocked"],
)
def test_gemini_failures_are_item_errors(run, configure, model_server, monkeypatch, reply, expected):
    monkeypatch.setenv("PG_GEMINI_KEY", CANARY)
    configure("gemini", f"{model_server.root}/v1beta", "gemini-flash", api_key_env="PG_GEMINI_KEY")
    model_server.responder = lambda request, headers: reply
    result, _ = run(SUITE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])
    assert all(CANARY not in path for path in model_server.paths)


# Ollama


def test_ollama_chat_request_and_record(run, configure, model_server):
    configure("ollama", model_server.root, "llama3.2", params={"temperature": 0, "max_tokens": 30, "keep_alive": "5m"})
    model_server.responder = lambda request, headers: Reply(body=ollama_chat("hello Ada", done_reason="length"))
    result, records = run(SUITE)
    result.assert_outcomes(passed=1)
    assert model_server.paths == ["/api/chat"]
    assert model_server.requests[0] == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Say hello to Ada"},
        ],
        "stream": False,
        "options": {"temperature": 0, "num_predict": 30},
        "keep_alive": "5m",
    }
    assert "authorization" not in model_server.headers[0]
    call = only_call(records)
    assert (call["model_served"], call["finish_reason"]) == ("llama-test:8b", "length")
    assert call["usage"] == {
        "input_tokens": 11,
        "output_tokens": 5,
        "cached_input_tokens": None,
        "estimated": False,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
    }


def test_ollama_tool_calls_and_optional_key(run, configure, model_server, monkeypatch):
    monkeypatch.setenv("PG_OLLAMA_KEY", CANARY)
    configure("ollama", model_server.root, "llama3.2", api_key_env="PG_OLLAMA_KEY", params={"tools": [WEATHER_TOOL]})
    # Ollama leaves out prompt_eval_count when the whole prompt came from its cache.
    body = ollama_chat(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], prompt_eval_count=None)
    model_server.responder = lambda request, headers: Reply(body=body)
    result, records = run(TOOL_SUITE)
    result.assert_outcomes(passed=1)
    assert model_server.headers[0]["authorization"] == f"Bearer {CANARY}"
    assert model_server.requests[0]["tools"] == [WEATHER_TOOL] and "options" not in model_server.requests[0]
    call = only_call(records)
    assert call["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": None}]
    assert call["usage"]["estimated"] is True


def test_ollama_error_body_is_an_item_error(run, configure, model_server):
    configure("ollama", model_server.root, "llama9")
    model_server.responder = lambda request, headers: Reply(status=404, body={"error": "model 'llama9' not found"})
    result, _ = run(SUITE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*(ollama, llama9) failed: http (HTTP 404): HTTP 404 from http://127.0.0.1:*/api/chat: model 'llama9' not found*",
        ]
    )


# Configuration


@pytest.mark.parametrize(
    ("provider", "endpoint"),
    [
        ("anthropic", "https://api.anthropic.com/v1/messages"),
        ("gemini", "https://generativelanguage.googleapis.com/v1beta/models/m-1:generateContent"),
        ("ollama", "http://127.0.0.1:11434/api/chat"),
    ],
)
def test_default_base_urls(tmp_path, provider, endpoint):
    path = tmp_path / "promptguard.yaml"
    path.write_text(yaml.safe_dump({"models": {"m": {"provider": provider, "model": "m-1"}}}), encoding="utf-8")
    spec = Config.load(path).model("m")
    assert spec.base_url == DEFAULT_BASE_URLS[provider]
    assert make_provider(spec).endpoint == endpoint


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "ollama"])
def test_model_is_required(tmp_path, provider):
    path = tmp_path / "promptguard.yaml"
    path.write_text(yaml.safe_dump({"models": {"m": {"provider": provider}}}), encoding="utf-8")
    with pytest.raises(PromptguardError, match="model"):
        Config.load(path)
