"""Streamed answers and time to first token: every provider against a local server that streams for real.

The servers send headers at once, then the answer's pieces over a real socket with a delay before the first
content (FIRST_S) and between pieces (GAP_S), so a call's ttft_ms is about FIRST_S and its latency_ms clearly more.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from pytest_promptguard.call.scheduler import Scheduler
from pytest_promptguard.config.loader import Config
from pytest_promptguard.config.spec import ModelSpec
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.results import Call, Request
from pytest_promptguard.providers import make_provider

from .recording import RECORDER, read_records
from .servers import Reply, anthropic_events, chat_chunks, chat_completion, gemini_events, ollama_lines, sse_event

FIRST_S = 0.15  # before the first content
GAP_S = 0.08  # between the pieces after it

WEATHER_TOOL = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def paced(events: list[bytes], head: int = 0) -> list[tuple[float, bytes]]:
    """The events as a timed stream: the first `head` (which carry no content) at once, the next after FIRST_S,
    each later one after GAP_S."""
    return [(0.0 if i < head else FIRST_S if i == head else GAP_S, event) for i, event in enumerate(events)]


def streamed(events: list[bytes], head: int = 0, **reply: Any):
    return lambda request, headers: Reply(stream=paced(events, head), **reply)


def call_once(
    provider: str, base_url: str, model: str = "m-1", params: dict[str, Any] | None = None, **spec: Any
) -> Call:
    """One call through the real scheduler (which times it) with `stream: true`."""
    settings: dict[str, Any] = {"timeout_s": 5, "retries": 1, "max_backoff_s": 0.01, "stream": True, **spec}
    model_spec = ModelSpec(name="main", provider=provider, model=model, base_url=base_url, **settings)
    request = Request(
        model="main",
        provider=provider,
        model_id=model,
        messages=({"role": "user", "content": "Weather in Paris?"},),
        params=params or {},
    )
    scheduler = Scheduler(4)
    try:
        scheduler.submit("case", make_provider(model_spec), request)
        return scheduler.calls("case")[0]
    finally:
        scheduler.close()


def assert_timed(call: Call, pieces_after_first: int) -> None:
    """ttft about FIRST_S (the server waits that long before the first content, not less); the whole answer at
    least GAP_S per later piece more (bounds that a busy machine can only push up, never down)."""
    assert call.error is None, call.error
    assert call.ttft_ms is not None
    assert FIRST_S * 1000 <= call.ttft_ms < FIRST_S * 1000 + 250
    assert call.latency_ms >= (FIRST_S + pieces_after_first * GAP_S) * 1000
    assert call.ttft_ms < call.latency_ms


# OpenAI


def test_openai_stream_assembles_text_usage_and_times_first_token(model_server):
    usage = {
        "prompt_tokens": 14,
        "completion_tokens": 6,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    events = chat_chunks(
        "It is ",
        "sunny ",
        "in Paris.",
        model="gpt-x-2025-01-01",
        fingerprint="fp_s9",
        finish_reason="length",
        usage=usage,
    )
    model_server.responder = streamed(events, head=1)
    call = call_once("openai", model_server.url, "gpt-x", params={"temperature": 0})
    assert model_server.paths == ["/v1/chat/completions"]
    request = model_server.requests[0]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["temperature"] == 0
    assert call.text == "It is sunny in Paris."
    assert (call.model_served, call.fingerprint, call.finish_reason) == ("gpt-x-2025-01-01", "fp_s9", "length")
    assert (call.usage.input_tokens, call.usage.output_tokens, call.usage.cached_input_tokens) == (14, 6, 4)
    assert call.usage.estimated is False
    assert_timed(call, pieces_after_first=len(events) - 2)  # the role chunk came at once: ttft is the content's


def test_openai_stream_tool_calls_by_index_and_estimated_usage(model_server):
    tool_calls = [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": '{"tz"'}},
        {"index": 0, "function": {"arguments": '{"city": '}},
        {"index": 0, "function": {"arguments": '"Paris"}'}},
        {"index": 1, "function": {"arguments": ': "CET"}'}},
    ]
    events = chat_chunks(tool_calls=tool_calls, finish_reason="tool_calls")  # no usage chunk: estimated
    model_server.responder = streamed(events, head=1)
    call = call_once(
        "openai", model_server.url, "gpt-x", params={"tools": [{"type": "function", "function": WEATHER_TOOL}]}
    )
    assert [(t.id, t.name, t.arguments) for t in call.tool_calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"tz": "CET"}),
    ]
    assert (call.text, call.finish_reason) == ("", "tool_calls")
    assert call.usage.estimated is True and call.usage.input_tokens == 5
    assert_timed(call, pieces_after_first=len(events) - 2)


# Anthropic


def test_anthropic_stream_assembles_message_and_times_first_token(model_server):
    start_usage = {
        "input_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "output_tokens": 1,
    }
    events = anthropic_events(
        "Let me ",
        "check.",
        tool_use={"id": "toolu_1", "name": "get_weather"},
        json_pieces=['{"ci', 'ty": "Par', 'is"}'],
        stop_reason="tool_use",
        start_usage=start_usage,
        output_tokens=12,
    )
    model_server.responder = streamed(events, head=3)  # message_start, ping, an empty text block: no content yet
    call = call_once("anthropic", model_server.url, "claude-x", params={"max_tokens": 50})
    assert model_server.paths == ["/v1/messages"]
    assert model_server.requests[0]["stream"] is True and model_server.requests[0]["max_tokens"] == 50
    assert call.text == "Let me check."
    assert [(t.id, t.name, t.arguments) for t in call.tool_calls] == [("toolu_1", "get_weather", {"city": "Paris"})]
    assert (call.model_served, call.finish_reason) == ("claude-test-20250101", "tool_use")
    # As in the non-streamed record: input counts cache reads and writes; output is message_delta's final count.
    assert (call.usage.input_tokens, call.usage.output_tokens, call.usage.cached_input_tokens) == (125, 12, 100)
    assert_timed(call, pieces_after_first=len(events) - 4)


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, 2),
        ({"type": "invalid_request_error", "message": "bad tool"}, 1),
    ],
    ids=["overloaded-retried", "invalid-not-retried"],
)
def test_anthropic_error_event_mid_stream_is_an_error_naming_it(model_server, error, attempts):
    events = anthropic_events("Par", "tial")[:5] + [sse_event({"type": "error", "error": error}, "error")]
    model_server.responder = streamed(events, head=3)
    call = call_once("anthropic", model_server.url, "claude-x")
    assert call.error is not None and call.error.kind == "stream"
    assert f"sent an error event mid-stream: {error['type']}: {error['message']}" in call.error.message
    assert call.attempts == attempts == len(model_server.requests)
    assert call.text == "" and call.ttft_ms is None


# Gemini


def test_gemini_stream_assembles_response_and_times_first_token(model_server):
    usage = {"promptTokenCount": 20, "candidatesTokenCount": 4, "thoughtsTokenCount": 6, "cachedContentTokenCount": 8}
    events = gemini_events(
        {"text": "thinking about it", "thought": True},
        {"text": "It is "},
        {"text": "sunny."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        finish_reason="STOP",
        usage=usage,
    )
    # The thought summary comes at once: the first token is the answer's, after FIRST_S.
    model_server.responder = streamed(events, head=1)
    call = call_once("gemini", f"{model_server.root}/v1beta", "gemini-flash", params={"max_tokens": 64})
    assert model_server.paths == ["/v1beta/models/gemini-flash:streamGenerateContent?alt=sse"]
    assert model_server.requests[0]["generationConfig"] == {"maxOutputTokens": 64}
    assert call.text == "It is sunny."
    assert [(t.name, t.arguments) for t in call.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert (call.model_served, call.finish_reason) == ("gemini-test-001", "STOP")
    assert (call.usage.input_tokens, call.usage.output_tokens, call.usage.cached_input_tokens) == (20, 10, 8)
    assert_timed(call, pieces_after_first=len(events) - 2)


def test_gemini_events_split_across_socket_writes_are_joined(model_server):
    """An event cut mid-JSON (and mid-CRLF) between two writes is one event, read whole."""
    body = b"".join(
        gemini_events({"text": "Hello "}, {"text": "Ada"}, usage={"promptTokenCount": 3, "candidatesTokenCount": 2})
    )
    cut_in_json, cut_in_crlf = body.index(b"Hello") + 2, body.index(b"\r\n\r\n") + 1
    pieces = [
        (FIRST_S, body[:cut_in_crlf]),
        (GAP_S, body[cut_in_crlf : cut_in_json + 40]),
        (GAP_S, body[cut_in_json + 40 :]),
    ]
    model_server.responder = lambda request, headers: Reply(stream=pieces)
    call = call_once("gemini", f"{model_server.root}/v1beta", "gemini-flash")
    assert call.error is None, call.error
    assert (call.text, call.usage.input_tokens, call.usage.output_tokens) == ("Hello Ada", 3, 2)


def test_gemini_error_event_is_retried_by_its_code(model_server):
    events = [
        gemini_events({"text": "It is "}, {"text": "sunny."})[0],
        sse_event(
            {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}, newline="\r\n"
        ),
    ]
    model_server.responder = streamed(events)
    call = call_once("gemini", f"{model_server.root}/v1beta", "gemini-flash")
    assert call.error is not None and call.error.kind == "stream"
    assert "mid-stream: UNAVAILABLE: The model is overloaded." in call.error.message
    assert call.attempts == 2


def test_gemini_blocked_prompt_ends_the_stream_and_says_so(model_server):
    model_server.responder = streamed([sse_event({"promptFeedback": {"blockReason": "SAFETY"}}, newline="\r\n")])
    call = call_once("gemini", f"{model_server.root}/v1beta", "gemini-flash")
    assert call.error is not None and call.error.kind == "bad_response" and call.attempts == 1
    assert "answered with the prompt was blocked (SAFETY)" in call.error.message


# Ollama


def test_ollama_streams_json_lines(model_server):
    lines = ollama_lines(
        "It is ",
        "sunny.",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}],
        done_reason="stop",
        prompt_eval_count=11,
        eval_count=5,
    )
    model_server.responder = streamed(lines, headers={"Content-Type": "application/x-ndjson"})
    call = call_once("ollama", model_server.root, "llama3.2", params={"max_tokens": 30})
    assert model_server.paths == ["/api/chat"]
    assert model_server.requests[0]["stream"] is True and model_server.requests[0]["options"] == {"num_predict": 30}
    assert call.text == "It is sunny."
    assert [(t.name, t.arguments) for t in call.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert (call.model_served, call.finish_reason, call.usage.input_tokens, call.usage.output_tokens) == (
        "llama-test:8b",
        "stop",
        11,
        5,
    )
    assert_timed(call, pieces_after_first=len(lines) - 1)


# Broken streams


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "connection-close"])
@pytest.mark.parametrize(
    ("provider", "events", "last_event"),
    [
        ("openai", chat_chunks("It is ", "sunny.")[:-1], "data: [DONE]"),
        ("anthropic", anthropic_events("It is ", "sunny.")[:-1], "message_stop"),
        ("gemini", gemini_events({"text": "It is "}, {"text": "sunny."})[:-1], "a candidate with a finishReason"),
    ],
    ids=["openai", "anthropic", "gemini"],
)
def test_cut_off_stream_is_retried_then_an_error(model_server, provider, events, last_event, chunked):
    model_server.responder = streamed(events, chunked=chunked)
    base_url = f"{model_server.root}/v1beta" if provider == "gemini" else model_server.url
    call = call_once(provider, base_url, retries=2)
    assert call.error is not None and call.error.kind == "bad_response"
    assert f"ended the stream before its last event ({last_event}): the stream was cut off" in call.error.message
    assert call.attempts == 3 == len(model_server.requests)


def test_event_data_that_is_not_json_is_a_retried_bad_response(model_server):
    model_server.responder = streamed(chat_chunks("It is ")[:2] + [sse_event("<html>502 Bad Gateway</html>")], head=1)
    call = call_once("openai", model_server.url)
    assert call.error is not None and call.error.kind == "bad_response"
    assert "answered HTTP 200 with a stream event whose data is not JSON" in call.error.message
    assert call.attempts == 2


def test_openai_server_error_chunk_names_it(model_server):
    error = sse_event(
        {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}
    )
    model_server.responder = streamed(chat_chunks("It is ")[:2] + [error], head=1)
    call = call_once("openai", model_server.url, retries=0)
    assert call.error is not None and call.error.kind == "stream"
    assert "mid-stream: server_error: The server had an error while processing your request." in call.error.message


def test_stream_over_the_size_bound_is_refused_unretried(model_server):
    piece = sse_event({"choices": [{"index": 0, "delta": {"content": "x" * 4000}, "finish_reason": None}]})
    megabyte = piece * ((1 << 20) // len(piece) + 1)
    model_server.responder = lambda request, headers: Reply(stream=[(0.0, megabyte)] * 18)
    call = call_once("openai", model_server.url, retries=2)
    assert call.error is not None and call.error.kind == "bad_response"
    assert "with a body larger than 16 MiB; promptguard reads at most 16 MiB of an answer" in call.error.message
    assert call.attempts == 1


def test_stream_that_stalls_counts_against_timeout_s(model_server):
    stalled = paced(chat_chunks("It is ", "sunny."), head=1)[:2] + [(1.0, b"")]  # then nothing for a second
    model_server.responder = lambda request, headers: Reply(stream=stalled)
    call = call_once("openai", model_server.url, retries=0, timeout_s=FIRST_S + 0.3)
    assert call.error is not None and call.error.kind == "timeout"
    assert call.ttft_ms is None and call.attempts == 1


def test_server_that_does_not_stream_is_told_to_drop_stream(model_server):
    model_server.responder = lambda request, headers: Reply(body=chat_completion("hello"))
    call = call_once("openai", model_server.url)
    assert call.error is not None and call.attempts == 1
    assert "with one JSON body, not a stream" in call.error.message and "remove 'stream: true'" in call.error.message


def test_http_error_before_the_stream_is_reported_as_without_streaming(model_server):
    model_server.responder = lambda request, headers: Reply(
        status=401, body={"error": {"message": "Incorrect API key"}}
    )
    call = call_once("openai", model_server.url)
    assert call.error is not None and (call.error.kind, call.error.status) == ("auth", 401)
    assert "Incorrect API key" in call.error.message and call.attempts == 1


# As a user runs it

SUITE = """
cases:
  - id: weather
    prompt: "Weather in Paris?"
    checks:
      - contains: sunny
      - latency: {{ttft_p95_ms: {bound}}}
"""

SLO_SUITE = """
slo: {ttft_p95_ms: 100, p95_ms: 5000}
cases:
  - {id: one, prompt: "one?"}
  - {id: two, prompt: "two?"}
"""


@pytest.fixture
def streaming_server(model_server):
    """The openai server answering every request with a paced stream: first token after FIRST_S."""
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    model_server.responder = streamed(chat_chunks("It is ", "sunny ", "in Paris.", usage=usage), head=1)
    return model_server


def test_latency_check_bounds_time_to_first_token(pytester, write, streaming_server, openai_config):
    openai_config(stream=True)
    write("fast.prompt.yaml", SUITE.format(bound=FIRST_S * 1000 + 400))
    write("slow.prompt.yaml", SUITE.format(bound=50))
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*fast.prompt.yaml::weather?fast? PASSED*",
            "*slow.prompt.yaml::weather?fast? FAILED*",
            "*latency: ttft p95 * ms > 50 ms over 1 samples*",
            "*fast (openai, asked gpt-4o-mini, served test-model-2024-01-01): * ms (first token * ms)*",
        ]
    )
    for record in read_records(pytester):
        call = record["calls"][0]
        assert FIRST_S * 1000 <= call["ttft_ms"] < call["latency_ms"]


def test_slo_on_time_to_first_token_fails_when_the_first_token_is_late(
    pytester, write, streaming_server, openai_config
):
    openai_config(stream=True)
    write("answers.prompt.yaml", SLO_SUITE)
    result = pytester.runpytest("--promptguard", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*answers.prompt.yaml::slo?fast? FAILED*",
            "*latency SLO broken for model 'fast' over 2 live calls: ttft_p95 * ms > target 100 ms",
        ]
    )


def test_call_log_carries_ttft(pytester, write, streaming_server, openai_config):
    openai_config(stream=True)
    write("answers.prompt.yaml", "cases:\n  - {id: one, prompt: 'one?'}\n")
    pytester.runpytest("--promptguard", "--promptguard-log=calls.jsonl").assert_outcomes(passed=1)
    [line] = [json.loads(text) for text in (pytester.path / "calls.jsonl").read_text().splitlines()]
    assert FIRST_S * 1000 <= line["ttft_ms"] < line["latency_ms"]
    assert line["output"] == "It is sunny in Paris." and line["tokens_out"] == 3


def test_ttft_bound_without_stream_fails_with_the_hint(pytester, write, model_server, openai_config):
    openai_config()  # not streamed: ttft is never measured
    write("slow.prompt.yaml", SUITE.format(bound=500).replace("contains: sunny", "contains: echo"))
    write("answers.prompt.yaml", SLO_SUITE.replace("one?", "one sunny?"))
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*latency: no time to first token measured over 1 live samples: set stream: true on model 'fast' in promptguard.yaml*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            (
                "*latency SLO broken for model 'fast' over 2 live calls: ttft_p95: no time to first token measured; "
                "set stream: true on model 'fast' in promptguard.yaml"
            ),
        ]
    )
    assert all(record["calls"][0]["ttft_ms"] is None for record in read_records(pytester))
    assert "stream" not in model_server.requests[0]


def test_stream_on_a_python_model_is_a_config_error(pytester, write):
    spec = {"provider": "python", "callable": "os.path:basename", "stream": True}
    (pytester.path / "promptguard.yaml").write_text(yaml.safe_dump({"models": {"app": spec}}, sort_keys=False))
    write("app.prompt.yaml", "models: [app]\ncases:\n  - {id: one, prompt: 'one?'}\n")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            (
                "*promptguard.yaml:5: model 'app': stream: true needs a provider that streams, and a python callable "
                "returns its answer whole (there is no first token to time)"
            ),
            "*fix: remove 'stream: true' from this model, or stream from an openai, anthropic, gemini or ollama model",
        ]
    )


def test_stream_must_be_true_or_false(tmp_path):
    path = tmp_path / "promptguard.yaml"
    path.write_text(yaml.safe_dump({"models": {"m": {"provider": "openai", "model": "x", "stream": "yes"}}}))
    with pytest.raises(PromptguardError, match="'models.m.stream' must be true or false"):
        Config.load(path)
    path.write_text(yaml.safe_dump({"models": {"m": {"provider": "anthropic", "model": "x", "stream": True}}}))
    assert Config.load(path).model("m").stream is True


def test_calls_recorded_before_streaming_existed_still_load():
    older = Call(model="m", provider="openai", model_asked="x", latency_ms=3.0).to_dict()
    del older["ttft_ms"]
    assert Call.from_dict(older).ttft_ms is None
    streamed_call = Call(model="m", provider="openai", model_asked="x", latency_ms=9.5, ttft_ms=2.25)
    assert Call.from_dict(json.loads(json.dumps(streamed_call.to_dict()))) == streamed_call
