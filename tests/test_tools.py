"""Tool calls and structured outputs: what each provider sends (against local servers speaking the real wire
formats), what every call records, the tool_call / no_tool_call / tool_calls / json_path checks, tool-call drift
against goldens, and the collection errors of bad tool definitions."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_promptguard.call.scheduler import Scheduler
from pytest_promptguard.checks import BuildContext, CaseInfo, CheckInput, CheckSpecError, build_check
from pytest_promptguard.checks.jsonpath import JsonPathError, find, parse_path
from pytest_promptguard.config.spec import ModelSpec
from pytest_promptguard.core.results import Call, Request, canonical_json
from pytest_promptguard.providers import anthropic, gemini, make_provider, openai

from .recording import RECORDER, read_records
from .servers import (
    Reply,
    anthropic_message,
    chat_chunks,
    gemini_events,
    gemini_response,
    last_user_message,
    ollama_chat,
    ollama_lines,
    sse_event,
)

LOOKUP = {
    "name": "lookup_order",
    "description": "Find an order by its id.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
}
ESCALATE = {"name": "escalate"}  # no description, no parameters: every provider must still accept it
TOOLS = (LOOKUP, ESCALATE)
TICKET = {"type": "object", "properties": {"label": {"enum": ["billing", "bug"]}}, "required": ["label"]}
PARALLEL = [("lookup_order", {"order_id": "A-17"}), ("escalate", {"reason": "angry"})]


def call_through(
    provider: str, base_url: str, *, stream: bool = False, params: dict[str, Any] | None = None, **fields: Any
) -> Call:
    """One call of a request carrying `fields` (tools, tool_choice, response_format) through the real scheduler."""
    spec = ModelSpec(
        name="main",
        provider=provider,
        model="m-1",
        base_url=base_url,
        timeout_s=5,
        retries=0,
        max_backoff_s=0.01,
        stream=stream,
    )
    request = Request(
        model="main",
        provider=provider,
        model_id="m-1",
        messages=({"role": "user", "content": "Where is order A-17?"},),
        params=params or {},
        **fields,
    )
    scheduler = Scheduler(4)
    try:
        scheduler.submit("case", make_provider(spec), request)
        [call] = scheduler.calls("case")
        return call
    finally:
        scheduler.close()


def recorded(call: Call) -> list[tuple[str, Any]]:
    assert call.error is None, call.error
    return [(t.name, t.arguments) for t in call.tool_calls]


def openai_tool_answer(calls: list[tuple[str, Any]], text: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chat completion whose message is tool calls (arguments as JSON text, as the API sends them)."""
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        for i, (name, arguments) in enumerate(calls)
    ]
    message = {"role": "assistant", "content": text, "tool_calls": tool_calls}
    return {
        "id": "chatcmpl-t",
        "object": "chat.completion",
        "model": extra.get("model", "gpt-t-2025"),
        "system_fingerprint": "fp_t",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
    }


# -- what each provider sends, and what it records ------------------------------------------------------------------


def test_openai_sends_tools_a_named_choice_and_a_json_schema_and_records_parallel_calls_without_text(model_server):
    model_server.responder = lambda request, headers: Reply(body=openai_tool_answer(PARALLEL))
    response_format = {"json_schema": TICKET, "name": "ticket", "strict": True}
    call = call_through(
        "openai",
        model_server.url,
        params={"temperature": 0},
        tools=TOOLS,
        tool_choice={"name": "lookup_order"},
        response_format=response_format,
    )
    body = model_server.requests[0]
    assert body["tools"] == [{"type": "function", "function": LOOKUP}, {"type": "function", "function": ESCALATE}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "ticket", "schema": TICKET, "strict": True},
    }
    assert body["temperature"] == 0
    assert recorded(call) == PARALLEL
    assert [t.id for t in call.tool_calls] == ["call_0", "call_1"]
    assert (call.text, call.finish_reason) == ("", "tool_calls")


@pytest.mark.parametrize(
    ("choice", "response_format", "sent"),
    [
        ("auto", None, {"tool_choice": "auto"}),
        ("none", None, {"tool_choice": "none"}),
        ("required", "json", {"tool_choice": "required", "response_format": {"type": "json_object"}}),
        (
            None,
            {"json_schema": TICKET},
            {"response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": TICKET}}},
        ),
    ],
    ids=["auto", "none", "required-json-mode", "schema-default-name"],
)
def test_openai_choice_and_format_forms(choice, response_format, sent):
    request = Request("m", "openai", "m-1", (), {}, tools=TOOLS, tool_choice=choice, response_format=response_format)
    fields = openai.tool_fields(request)
    assert {k: v for k, v in fields.items() if k != "tools"} == sent


def test_anthropic_sends_input_schemas_any_and_output_config_and_records_tool_use_blocks(model_server):
    body = anthropic_message(
        tool_uses=[{"id": f"toolu_{i}", "name": n, "input": a} for i, (n, a) in enumerate(PARALLEL)],
        stop_reason="tool_use",
        usage={"input_tokens": 20, "output_tokens": 9},
    )
    model_server.responder = lambda request, headers: Reply(body=body)
    call = call_through(
        "anthropic",
        model_server.url,
        params={"output_config": {"effort": "low"}},
        tools=TOOLS,
        tool_choice="required",
        response_format={"json_schema": TICKET, "name": "ignored", "strict": True},
    )
    sent = model_server.requests[0]
    assert sent["tools"] == [
        {"name": "lookup_order", "description": "Find an order by its id.", "input_schema": LOOKUP["parameters"]},
        {"name": "escalate", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert sent["tool_choice"] == {"type": "any"}
    # Structured outputs (GA): output_config.format, merged with the rest of output_config; no beta header.
    assert sent["output_config"] == {"effort": "low", "format": {"type": "json_schema", "schema": TICKET}}
    assert "anthropic-beta" not in model_server.headers[0]
    assert recorded(call) == PARALLEL
    assert [t.id for t in call.tool_calls] == ["toolu_0", "toolu_1"]
    assert (call.text, call.finish_reason) == ("", "tool_use")


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ({"name": "escalate"}, {"type": "tool", "name": "escalate"}),
    ],
    ids=["auto", "none", "named"],
)
def test_anthropic_choice_forms(choice, sent):
    assert (
        anthropic.tool_fields(Request("m", "anthropic", "m-1", (), {}, tools=TOOLS, tool_choice=choice))["tool_choice"]
        == sent
    )


def test_gemini_sends_function_declarations_a_tool_config_and_a_json_schema_and_records_function_calls(model_server):
    body = gemini_response(
        *({"functionCall": {"name": n, "args": a}} for n, a in PARALLEL),
        usage={"promptTokenCount": 20, "candidatesTokenCount": 6},
    )
    model_server.responder = lambda request, headers: Reply(body=body)
    call = call_through(
        "gemini",
        f"{model_server.root}/v1beta",
        params={"max_tokens": 64},
        tools=TOOLS,
        tool_choice={"name": "lookup_order"},
        response_format={"json_schema": TICKET},
    )
    sent = model_server.requests[0]
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "lookup_order",
                    "description": "Find an order by its id.",
                    "parametersJsonSchema": LOOKUP["parameters"],
                },
                {"name": "escalate"},
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup_order"]}}
    assert sent["generationConfig"] == {
        "maxOutputTokens": 64,
        "responseMimeType": "application/json",
        "responseJsonSchema": TICKET,
    }
    assert recorded(call) == PARALLEL
    assert call.text == ""


@pytest.mark.parametrize(
    ("choice", "response_format", "mode", "config"),
    [
        ("auto", None, "AUTO", None),
        ("none", "json", "NONE", {"responseMimeType": "application/json"}),
        ("required", None, "ANY", None),
    ],
    ids=["auto", "none-json-mode", "required"],
)
def test_gemini_choice_and_format_forms(choice, response_format, mode, config):
    request = Request("m", "gemini", "m-1", (), {}, tools=TOOLS, tool_choice=choice, response_format=response_format)
    fields = gemini.tool_fields(request)
    assert fields["toolConfig"] == {"functionCallingConfig": {"mode": mode}}
    assert fields.get("generationConfig") == config


@pytest.mark.parametrize("response_format", [{"json_schema": TICKET}, "json"], ids=["schema", "json-mode"])
def test_ollama_sends_tools_and_format_and_records_tool_calls(model_server, response_format):
    body = ollama_chat(tool_calls=[{"name": n, "arguments": a} for n, a in PARALLEL])
    model_server.responder = lambda request, headers: Reply(body=body)
    call = call_through(
        "ollama",
        model_server.root,
        params={"temperature": 0},
        tools=TOOLS,
        tool_choice="auto",
        response_format=response_format,
    )
    sent = model_server.requests[0]
    assert sent["tools"] == [{"type": "function", "function": LOOKUP}, {"type": "function", "function": ESCALATE}]
    assert sent["format"] == (TICKET if response_format != "json" else "json")
    assert "tool_choice" not in sent and sent["options"] == {"temperature": 0}
    assert recorded(call) == PARALLEL
    assert call.text == ""


def anthropic_parallel_stream() -> list[bytes]:
    """Two tool_use blocks and no text, each block's input streamed in pieces."""
    message = {
        "id": "msg_s",
        "type": "message",
        "role": "assistant",
        "model": "claude-t",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
    events = [sse_event({"type": "message_start", "message": message})]
    for index, (name, arguments) in enumerate(PARALLEL):
        block = {"type": "tool_use", "id": f"toolu_{index}", "name": name, "input": {}}
        text = json.dumps(arguments)
        events.append(sse_event({"type": "content_block_start", "index": index, "content_block": block}))
        events += [
            sse_event(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
            )
            for piece in (text[:5], text[5:])
        ]
        events.append(sse_event({"type": "content_block_stop", "index": index}))
    events.append(
        sse_event({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}})
    )
    return events + [sse_event({"type": "message_stop"})]


def openai_parallel_stream() -> list[bytes]:
    """Two tool calls whose argument pieces arrive interleaved, by index."""
    first, second = (json.dumps(arguments) for _, arguments in PARALLEL)
    pieces = [
        {"index": 0, "id": "call_0", "type": "function", "function": {"name": "lookup_order", "arguments": first[:4]}},
        {"index": 1, "id": "call_1", "type": "function", "function": {"name": "escalate", "arguments": ""}},
        {"index": 1, "function": {"arguments": second}},
        {"index": 0, "function": {"arguments": first[4:]}},
    ]
    return chat_chunks(tool_calls=pieces, finish_reason="tool_calls")


STREAMS = {
    "openai": (openai_parallel_stream, {}),
    "anthropic": (anthropic_parallel_stream, {}),
    "gemini": (lambda: gemini_events(*({"functionCall": {"name": n, "args": a}} for n, a in PARALLEL)), {}),
    "ollama": (
        lambda: ollama_lines(tool_calls=[{"name": n, "arguments": a} for n, a in PARALLEL]),
        {"Content-Type": "application/x-ndjson"},
    ),
}


@pytest.mark.parametrize("provider", list(STREAMS))
def test_streamed_parallel_tool_calls_without_text_are_recorded_in_order(model_server, provider):
    events, headers = STREAMS[provider]
    model_server.responder = lambda request, _: Reply(stream=[(0.0, event) for event in events()], headers=headers)
    base_url = {"gemini": f"{model_server.root}/v1beta", "ollama": model_server.root}.get(provider, model_server.url)
    call = call_through(provider, base_url, stream=True, tools=TOOLS)
    assert recorded(call) == PARALLEL
    assert call.text == ""
    assert model_server.requests[0]["tools"]  # streamed requests carry the tools too


def test_python_callable_gets_the_tools_in_params_and_returns_tool_calls(tmp_path, monkeypatch):
    (tmp_path / "agentstub.py").write_text(
        "SEEN = []\n"
        "def act(messages, params):\n"
        "    SEEN.append(params)\n"
        "    params['tools'].clear()  # the application cannot change the request\n"
        "    return {'text': '', 'tool_calls': [{'name': 'lookup_order', 'arguments': '{\"order_id\": \"A-17\"}', 'id': 'c1'},\n"
        "                                       {'name': 'escalate', 'arguments': {'reason': 'angry'}}]}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec(name="main", provider="python", callable="agentstub:act", timeout_s=5)
    request = Request(
        "main",
        "python",
        "agentstub:act",
        ({"role": "user", "content": "A-17?"},),
        {"temperature": 0},
        tools=TOOLS,
        tool_choice="required",
        response_format="json",
    )
    scheduler = Scheduler(2)
    try:
        scheduler.submit("case", make_provider(spec), request)
        [call] = scheduler.calls("case")
    finally:
        scheduler.close()
    import agentstub  # noqa: PLC0415 - the stub written above

    [params] = agentstub.SEEN
    assert params["temperature"] == 0 and params["tool_choice"] == "required" and params["response_format"] == "json"
    assert request.tools == TOOLS
    assert recorded(call) == PARALLEL  # arguments given as JSON text are parsed, as a provider's are
    assert [t.id for t in call.tool_calls] == ["c1", None]


# -- the request digest ---------------------------------------------------------------------------------------------


def test_a_request_without_tools_keeps_its_digest_and_each_tool_setting_changes_it():
    plain = Request("fast", "openai", "gpt-4o-mini", ({"role": "user", "content": "hi"},), {"temperature": 0})
    body = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "params": {"temperature": 0},
    }
    assert plain.digest() == hashlib.sha256(canonical_json(body).encode()).hexdigest()[:16]  # as goldens recorded it
    fields = {
        "model": "fast",
        "provider": "openai",
        "model_id": "gpt-4o-mini",
        "messages": plain.messages,
        "params": plain.params,
    }
    digests = {
        Request(**fields, tools=(LOOKUP,)).digest(),
        Request(**fields, tools=({**LOOKUP, "description": "Find an order."},)).digest(),
        Request(**fields, tools=(LOOKUP,), tool_choice="required").digest(),
        Request(**fields, response_format="json").digest(),
        plain.digest(),
    }
    assert len(digests) == 5


# -- checks, through pytest ----------------------------------------------------------------------------------------

CONFIG = """
pythonpath: [.]
default_models: [bot]
models:
  bot: {provider: python, callable: "bot:answer"}
"""


@pytest.fixture
def bot(pytester):
    """Model `bot` answers each prompt from `answers`: a text, or {"text", "tool_calls"}; every report recorded."""

    def make(answers: dict[str, Any]) -> None:
        (pytester.path / "promptguard.yaml").write_text(CONFIG, encoding="utf-8")
        source = (
            f"ANSWERS = {answers!r}\n\n\ndef answer(messages, params):\n    return ANSWERS[messages[-1]['content']]\n"
        )
        (pytester.path / "bot.py").write_text(source, encoding="utf-8")
        pytester.makeconftest(RECORDER)

    return make


def write_suite(pytester, name: str, suite: dict[str, Any]) -> Path:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(suite, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def agent(*calls: tuple[str, Any], text: str = "") -> dict[str, Any]:
    return {"text": text, "tool_calls": [{"name": name, "arguments": arguments} for name, arguments in calls]}


REFUND_CALL = 'refund_order(order_id="B-42", reason="the lamp arrived broken", notify={"email…)'  # cut at 80 characters
REFUND = agent(
    ("lookup_order", {"order_id": "B-42"}),
    (
        "refund_order",
        {"order_id": "B-42", "reason": "the lamp arrived broken", "notify": {"email": True, "sms": False}},
    ),
)
CHECK_ROWS = [
    # (id, check, answer, passed, reason)
    (
        "tool-call-pass",
        {"tool_call": {"name": "refund_order", "arguments": {"order_id": "B-42"}}},
        REFUND,
        True,
        "called " + REFUND_CALL,
    ),
    (
        "tool-call-nested-fuzzy-regex-pass",
        {
            "tool_call": {
                "name": "refund_order",
                "arguments": {
                    "order_id": {"regex": "^B-\\d+$"},
                    "notify": {"email": True},
                    "reason": {"fuzzy": "lamp broken on arrival", "min": 75},
                },
            }
        },
        REFUND,
        True,
        "called " + REFUND_CALL,
    ),
    (
        "tool-call-not-called",
        {"tool_call": {"name": "escalate"}},
        REFUND,
        False,
        'escalate was not called; called: lookup_order(order_id="B-42"), ' + REFUND_CALL,
    ),
    (
        "tool-call-wrong-argument",
        {"tool_call": {"name": "lookup_order", "arguments": {"order_id": "B-24"}}},
        REFUND,
        False,
        'lookup_order(order_id="B-42"): $.order_id: expected "B-24", got "B-42"',
    ),
    (
        "tool-call-missing-and-fuzzy",
        {
            "tool_call": {
                "name": "refund_order",
                "arguments": {"amount": 12, "reason": {"fuzzy": "customer changed mind"}, "notify": {"sms": True}},
            }
        },
        REFUND,
        False,
        REFUND_CALL + ": "
        "$.amount: missing (arguments given: order_id, reason, notify); "
        "$.reason: 'the lamp arrived broken' is not like 'customer changed mind' (token_set_ratio 36.3 < min 80); "
        "$.notify.sms: expected true, got false",
    ),
    (
        "tool-call-type-strict",
        {"tool_call": {"name": "refund_order", "arguments": {"notify": {"email": 1}}}},
        REFUND,
        False,
        REFUND_CALL + ": $.notify.email: expected 1, got true",
    ),
    (
        "tool-call-schema-fail",
        {
            "tool_call": {
                "name": "lookup_order",
                "arguments_schema": {
                    "type": "object",
                    "properties": {"order_id": {"type": "integer"}},
                    "required": ["order_id", "region"],
                },
            }
        },
        REFUND,
        False,
        "lookup_order(order_id=\"B-42\"): $: 'region' is a required property; $.order_id: 'B-42' is not of type 'integer'",
    ),
    ("no-tool-call-pass", "no_tool_call", {"text": "We are open 9 to 5."}, True, "no tool was called"),
    (
        "no-tool-call-fail",
        "no_tool_call",
        REFUND,
        False,
        'called 2 tools: lookup_order(order_id="B-42"), ' + REFUND_CALL,
    ),
    (
        "tool-calls-subsequence-pass",
        {"tool_calls": {"sequence": ["refund_order"]}},
        REFUND,
        True,
        "called refund_order in order (of lookup_order → refund_order)",
    ),
    (
        "tool-calls-order-fail",
        {"tool_calls": {"sequence": ["refund_order", "lookup_order"]}},
        REFUND,
        False,
        "expected refund_order → lookup_order in order: lookup_order was not called after refund_order; "
        "called lookup_order → refund_order",
    ),
    (
        "tool-calls-exact-fail",
        {"tool_calls": {"sequence": ["refund_order"], "exact": True}},
        REFUND,
        False,
        "expected exactly refund_order; called lookup_order → refund_order",
    ),
    (
        "tool-calls-none-fail",
        {"tool_calls": {"sequence": ["lookup_order"]}},
        {"text": "Hello"},
        False,
        "expected lookup_order in order: lookup_order was not called; called no tool",
    ),
]


def test_tool_checks_pass_and_fail_with_readable_reasons(pytester, bot):
    bot({row[0]: row[2] for row in CHECK_ROWS})
    write_suite(
        pytester, "t.prompt.yaml", {"cases": [{"id": r[0], "prompt": r[0], "checks": [r[1]]} for r in CHECK_ROWS]}
    )
    result = pytester.runpytest("--promptguard")
    failing = sum(not row[3] for row in CHECK_ROWS)
    result.assert_outcomes(passed=len(CHECK_ROWS) - failing, failed=failing)
    by_case = {record["case"]: record for record in read_records(pytester)}
    for case, check, _, passed, reason in CHECK_ROWS:
        [verdict] = by_case[case]["checks"][0]
        assert (verdict["passed"], verdict["reason"]) == (passed, reason), case
        if not passed:
            name = check if isinstance(check, str) else next(iter(check))
            assert f"  ✗ {name}: {reason}" in result.stdout.str()
    # A failing agent's item shows the calls it made, since its text is empty.
    assert 'tool calls:\n    lookup_order({"order_id": "B-42"})' in result.stdout.str()


def test_tool_call_arguments_schema_from_a_file_lists_every_violation(pytester, bot):
    bot({"q": agent(("refund_order", {"order_id": 42, "reason": "", "extra": True}))})
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["order_id", "reason"],
        "properties": {"order_id": {"type": "string"}, "reason": {"type": "string", "minLength": 3}},
    }
    (pytester.path / "schemas").mkdir()
    (pytester.path / "schemas" / "refund.json").write_text(json.dumps(schema), encoding="utf-8")
    check = {"tool_call": {"name": "refund_order", "arguments_schema": {"file": "schemas/refund.json"}}}
    write_suite(pytester, "t.prompt.yaml", {"cases": [{"id": "q", "prompt": "q", "checks": [check]}]})
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    [verdict] = read_records(pytester)[0]["checks"][0]
    assert verdict["reason"] == (
        'refund_order(order_id=42, reason="", extra=true): '
        "$: Additional properties are not allowed ('extra' was unexpected); "
        "$.order_id: 42 is not of type 'string'; $.reason: '' is too short"
    )


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"tool_call": {"name": "x", "arguments": {"a": {"regex": "("}}}}, "invalid regular expression '('"),
        (
            {"tool_call": {"name": "x", "arguments": {"a": {"fuzzy": "t", "min": 120}}}},
            "$.a: fuzzy min must be a number from 0 to 100",
        ),
        ({"tool_call": {"name": "x", "arguments_schema": {"type": "objekt"}}}, "invalid JSON Schema"),
        (
            {"tool_call": {"name": "x", "arguments_schema": {"file": "missing.json"}}},
            "schema file missing.json not found",
        ),
        ({"tool_calls": {"sequence": []}}, "check 'tool_calls'.sequence: [] should be non-empty"),
        ({"json_path": {"path": "items[0]", "exists": True}}, "invalid path 'items[0]': a JSON path starts with $"),
        ({"json_path": {"path": "$.a[1", "exists": True}}, "expected an index, 'key' or * inside [ ] at position 4"),
        ({"json_path": {"path": "$.a"}}, "asserts nothing"),
        ({"json_path": {"path": "$.a", "exists": False, "equals": 1}}, "exists: false cannot be combined with equals"),
        ({"json_path": {"path": "$.a", "regex": "x", "min": 80}}, "min and scorer belong to fuzzy"),
        ({"json_path": {"path": "$.a", "type": "text"}}, "'text' is not one of"),
    ],
)
def test_wrong_tool_and_path_check_arguments_are_spec_errors(tmp_path, check, message):
    name, argument = next(iter(check.items()))
    with pytest.raises(CheckSpecError) as raised:
        build_check(name, argument, BuildContext(suite_path=tmp_path / "s.prompt.yaml", rootdir=tmp_path))
    assert message in raised.value.message


# -- json_path and json_schema -------------------------------------------------------------------------------------

ORDER = {
    "items": [{"sku": "APPLE", "price": 2, "tags": []}, {"sku": "PEAR", "price": 2.0}, {"sku": "FIG", "price": -1}],
    "total": 5,
    "customer": {"name": "Ada Lovelace", "vip": True},
    "odd key": {"x": None},
}


def judge(name: str, argument: Any, text: str) -> tuple[bool, str]:
    built = build_check(name, argument, BuildContext(suite_path=Path("s.prompt.yaml")))
    verdict = built.run(
        CheckInput(call=Call(model="m", provider="p", model_asked="m", text=text), case=CaseInfo("s", "c"))
    )
    return verdict.passed, verdict.reason


@pytest.mark.parametrize(
    ("argument", "passed", "reason"),
    [
        ({"path": "$.items[0].sku", "equals": "APPLE"}, True, '$.items[0].sku: 1 match, equals "APPLE"'),
        ({"path": "$.items[-1].sku", "regex": "^F"}, True, "$.items[-1].sku: 1 match, matches /^F/"),
        ({"path": "$['odd key'].x", "type": "null"}, True, "$['odd key'].x: 1 match, is a null"),
        ({"path": "$.items[*].price", "type": "number"}, True, "$.items[*].price: 3 matches, each is a number"),
        ({"path": "$.items[*].price", "equals": 2}, False, "1 of 3 matches fail: $.items[2].price: -1, expected 2"),
        ({"path": "$.items[1].price", "type": "integer"}, True, "$.items[1].price: 1 match, is an integer"),
        ({"path": "$.customer.vip", "equals": 1}, False, "$.customer.vip: true, expected 1"),
        (
            {"path": "$.customer.*", "type": "string"},
            False,
            "1 of 2 matches fail: $.customer.vip: true is a boolean, not a string",
        ),
        (
            {"path": "$.customer.name", "fuzzy": "ada lovelace!", "min": 95},
            True,
            "$.customer.name: 1 match, is like 'ada lovelace!'",
        ),
        (
            {"path": "$.customer.name", "fuzzy": "Grace Hopper"},
            False,
            "$.customer.name: \"Ada Lovelace\" is not like 'Grace Hopper' (token_set_ratio 33.3 < min 80)",
        ),
        (
            {"path": "$.items[0].size", "exists": True},
            False,
            "$.items[0].size matched nothing: $.items[0] has no key 'size' (keys: sku, price, tags)",
        ),
        (
            {"path": "$.items[3].sku", "equals": "X"},
            False,
            "$.items[3].sku matched nothing: $.items has 3 items, no index 3",
        ),
        (
            {"path": "$.total.value", "exists": True},
            False,
            "$.total.value matched nothing: $.total is an integer, not an object",
        ),
        (
            {"path": "$.items[0].tags[*]", "exists": True},
            False,
            "$.items[0].tags[*] matched nothing: $.items[0].tags is an empty array",
        ),
        (
            {"path": "$.items[*].tags[0]", "exists": True},
            False,
            "$.items[*].tags[0] matched nothing: $.items[0].tags has 0 items, no index 0",
        ),
        ({"path": "$.coupon", "exists": False}, True, "$.coupon matches nothing, as expected"),
        (
            {"path": "$.items[*].sku", "exists": False},
            False,
            '$.items[*].sku should match nothing, but matched $.items[0].sku = "APPLE", $.items[1].sku = "PEAR", $.items[2].sku = "FIG"',
        ),
        ({"path": "$", "type": "object"}, True, "$: 1 match, is an object"),
    ],
)
def test_json_path_subset_semantics(argument, passed, reason):
    assert judge("json_path", argument, json.dumps(ORDER)) == (passed, reason)


def test_json_path_reads_fenced_json_and_fails_on_text():
    assert judge("json_path", {"path": "$.a", "equals": 1}, 'Here:\n```json\n{"a": 1}\n```') == (
        True,
        "$.a: 1 match, equals 1",
    )
    assert judge("json_path", {"path": "$.a", "equals": 1}, "a is 1") == (
        False,
        "output is not JSON: Expecting value at line 1 column 1",
    )


def test_json_path_parser():
    assert [(s.kind, s.value) for s in parse_path("$.a['b c'][\"d\"][-2][*].*")] == [
        ("key", "a"),
        ("key", "b c"),
        ("key", "d"),
        ("index", -2),
        ("any", None),
        ("any", None),
    ]
    assert parse_path("$") == ()
    for bad in ("$.", "$..a", "$[a]", "$['a'", "$.a b", "x"):
        with pytest.raises(JsonPathError):
            parse_path(bad)
    matches, miss = find(parse_path("$.items[*].sku"), ORDER)
    assert [(m.path, m.value) for m in matches] == [
        ("$.items[0].sku", "APPLE"),
        ("$.items[1].sku", "PEAR"),
        ("$.items[2].sku", "FIG"),
    ]
    assert miss is None


def test_json_schema_reports_every_violation_with_its_path():
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"price": {"type": "number", "minimum": 0}, "sku": {"type": "string"}},
                },
            }
        },
    }
    text = json.dumps({"items": [{"price": 1, "sku": "A"}, {"price": 2, "sku": 3}, {"price": -1, "sku": "C"}]})
    assert judge("json_schema", schema, text) == (
        False,
        "$.items[1].sku: 3 is not of type 'string'; $.items[2].price: -1 is less than the minimum of 0",
    )


# -- collection errors ---------------------------------------------------------------------------------------------

OLLAMA_CONFIG = """
default_models: [local]
models:
  local: {provider: ollama, model: llama3.2}
  claude: {provider: anthropic, model: claude-x}
"""


@pytest.mark.parametrize(
    ("suite", "files", "where", "message", "fix"),
    [
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tools:
                  - name: lookup_order
                    parameters: {type: object, properties: {order_id: {type: strin}}}
            """,
            {},
            "s.prompt.yaml:5: case 'a'",
            "tool 'lookup_order': parameters is not a valid JSON Schema: 'strin' is not one of ['array', 'boolean',",
            "give parameters as a JSON Schema",
            id="parameters-invalid",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tools:
                  - {name: lookup_order, parameters: {type: string}}
            """,
            {},
            "s.prompt.yaml:5: case 'a'",
            "tool 'lookup_order': parameters must describe an object (type: object), not string",
            "the model passes a tool's arguments as one object",
            id="parameters-not-an-object",
        ),
        pytest.param(
            """
            prompt: hi
            tools:
              - {name: lookup_order}
              - {file: tools.json}
            cases: [{id: a}]
            """,
            {"tools.json": [{"type": "function", "function": {"name": "lookup_order"}}]},
            "s.prompt.yaml:4",
            "duplicate tool name 'lookup_order' in tools file tools.json (first declared at line 3)",
            "give every tool a unique name",
            id="duplicate-name",
        ),
        pytest.param(
            """
            prompt: hi
            tools: [{name: lookup_order}]
            cases:
              - id: a
                tool_choice: {name: refund_order}
            """,
            {},
            "s.prompt.yaml:5: case 'a'",
            "tool_choice names tool 'refund_order', which is not among the tools (lookup_order)",
            "name one of: lookup_order",
            id="choice-unknown-tool",
        ),
        pytest.param(
            """
            prompt: hi
            tool_choice: required
            cases: [{id: a}]
            """,
            {},
            "s.prompt.yaml:2",
            "tool_choice required but no tools are declared",
            "declare the tools the model may call",
            id="choice-without-tools",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tools: {file: ../../outside.yaml}
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "tools file ../../outside.yaml is outside the repository",
            "keep tools files inside the repository",
            id="file-outside-repository",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tools: [{file: tools/missing.yaml}]
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "tools file tools/missing.yaml not found",
            "give a path relative to the suite file, or write the tools inline",
            id="file-missing",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tools: {file: tools.yaml}
            """,
            {"tools.yaml": [{"name": "ok"}, {"name": "bad name"}]},
            "s.prompt.yaml:4: case 'a'",
            "a tool in tools file tools.yaml has the name 'bad name'",
            "name it with letters, digits",
            id="file-bad-tool",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tools: [{name: x, parameters: {type: object, properties: {a: {$ref: 'other.json'}}}}]
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "tool 'x': parameters has $ref 'other.json' to another file",
            "move the referenced schema under $defs",
            id="parameters-foreign-ref",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                response_format: {json_schema: {type: objekt}}
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "response_format: json_schema is not a valid JSON Schema",
            "fix the schema",
            id="response-format-invalid",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                response_format: {json_schema: {file: schemas/nope.json}}
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "response_format: schema file schemas/nope.json not found",
            "give a path relative to the suite file",
            id="response-format-file-missing",
        ),
        pytest.param(
            """
            prompt: hi
            tools: [{name: lookup_order}]
            cases:
              - id: a
                tool_choice: required
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "model 'local' (ollama): Ollama's chat API has no tool_choice, so tool_choice 'required' cannot be sent",
            "remove tool_choice",
            id="ollama-tool-choice",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                models: [claude]
                response_format: json
            """,
            {},
            "s.prompt.yaml:3: case 'a'",
            "model 'claude' (anthropic): Anthropic's API has no JSON mode without a schema",
            "give a schema: response_format: {json_schema:",
            id="anthropic-json-mode",
        ),
        pytest.param(
            """
            prompt: hi
            cases:
              - id: a
                tool_choice: sometimes
            """,
            {},
            "s.prompt.yaml:4: case 'a'",
            "'sometimes' at 'cases[0].tool_choice' is not allowed",
            "use one of: auto, none, required",
            id="choice-unknown-word",
        ),
    ],
)
def test_bad_tool_definitions_are_collection_errors_naming_file_line_case_and_fix(
    pytester, write, suite, files, where, message, fix
):
    (pytester.path / "promptguard.yaml").write_text(OLLAMA_CONFIG, encoding="utf-8")
    for name, content in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
    write("s.prompt.yaml", suite)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    first = next(line for line in output.splitlines() if line.startswith("s.prompt.yaml:"))
    assert first.startswith(where + ": "), first
    assert message in first, first
    assert re.search(r"^  fix: .*" + re.escape(fix), output, re.M), output
    assert "Traceback" not in output


# -- goldens: drift on tool calls is structural ---------------------------------------------------------------------


class Agent:
    """What the OpenAI-compatible server answers: these tool calls (and text) for every prompt."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = [("lookup_order", {"order_id": "A-17", "region": "EU"})]
        self.text: str | None = None

    def __call__(self, request: dict, headers: dict) -> Reply:
        assert last_user_message(request)
        return Reply(body=openai_tool_answer(self.calls, self.text))


@pytest.fixture
def served(model_server) -> Agent:
    model_server.responder = Agent()
    return model_server.responder


TOOL_SUITE = """
tools: {file: tools.yaml}
cases:
  - {id: status, prompt: "Where is A-17?", checks: [golden]}
"""
TOOLS_FILE = """
- name: lookup_order
  parameters: {type: object, properties: {order_id: {type: string}, region: {type: string}}}
"""


@pytest.mark.parametrize(
    ("now", "passes", "reason", "diff"),
    [
        pytest.param(
            [("lookup_order", {"region": "EU", "order_id": "A-17"})],
            True,
            "1 tool call match the golden",
            None,
            id="reordered-keys",
        ),
        pytest.param(
            [("find_order", {"order_id": "A-17", "region": "EU"})],
            False,
            "tool calls drifted from the golden: tool renamed: lookup_order → find_order "
            '(lookup_order(order_id="A-17", region="EU") → find_order(order_id="A-17", region="EU"))',
            ['-lookup_order({"order_id":"A-17","region":"EU"})', '+find_order({"order_id":"A-17","region":"EU"})'],
            id="renamed-tool",
        ),
        pytest.param(
            [("lookup_order", {"id": "A-17", "region": "EU"})],
            False,
            "tool calls drifted from the golden: lookup_order.order_id: key missing; lookup_order.id: new key",
            ['+lookup_order({"id":"A-17","region":"EU"})'],
            id="renamed-argument",
        ),
        pytest.param(
            [("lookup_order", {"order_id": "Z-99", "region": "EU"})],
            False,
            "tool calls drifted from the golden: lookup_order.order_id: 'A-17' → 'Z-99' (token_set_ratio 25 < 90)",
            ['+lookup_order({"order_id":"Z-99","region":"EU"})'],
            id="changed-value",
        ),
        pytest.param(
            [("lookup_order", {"order_id": "A-17", "region": "EU"}), ("escalate", {})],
            False,
            "tool calls drifted from the golden: new tool call: escalate()",
            ["+escalate({})"],
            id="new-call",
        ),
        pytest.param(
            [],
            False,
            'tool calls drifted from the golden: tool call missing: lookup_order(order_id="A-17", region="EU")',
            ["+(no tool calls)"],
            id="missing-call",
        ),
    ],
)
def test_golden_drift_on_tool_calls(pytester, write, openai_config, served, now, passes, reason, diff):
    openai_config()
    write("tools.yaml", TOOLS_FILE)
    write("s.prompt.yaml", TOOL_SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    golden = yaml.safe_load((pytester.path / "__golden__" / "s.prompt.golden.yaml").read_text("utf-8"))
    entry = golden["cases"]["status"]["fast"]
    assert (entry["output"], entry["tool_calls"]) == (
        "",
        [{"name": "lookup_order", "arguments": {"order_id": "A-17", "region": "EU"}}],
    )
    served.calls = now
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=int(passes), failed=int(not passes))
    [verdict] = read_records(pytester)[0]["checks"][0]
    assert (verdict["passed"], verdict["reason"]) == (passes, reason)
    if diff:
        shown = result.stdout.str()
        for line in ["--- golden tool calls", "+++ tool calls now", *diff]:
            assert line in shown, line


def test_a_golden_of_tool_calls_alone_is_judged_by_them_alone(pytester, write, openai_config, served):
    openai_config()
    write("tools.yaml", TOOLS_FILE)
    write("s.prompt.yaml", TOOL_SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    served.text = "Let me look that up for you."  # chattier today, the same call: no drift
    pytester.makeconftest(RECORDER)
    pytester.runpytest("--promptguard").assert_outcomes(passed=1)
    [verdict] = read_records(pytester)[0]["checks"][0]
    assert verdict["reason"] == "1 tool call match the golden"


def test_text_and_tool_calls_both_judged_when_the_golden_has_both(pytester, write, openai_config, served):
    openai_config()
    write("tools.yaml", TOOLS_FILE)
    write("s.prompt.yaml", TOOL_SUITE)
    served.text = "Let me look up order A-17 for you."
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    served.text = "Refunds take two weeks."
    served.calls = [("lookup_order", {"order_id": "A-17"})]
    pytester.makeconftest(RECORDER)
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    [verdict] = read_records(pytester)[0]["checks"][0]
    assert verdict["reason"].startswith("output drifted from the golden: token_set_ratio ")
    assert verdict["reason"].endswith("; tool calls drifted from the golden: lookup_order.region: key missing")
    assert "--- golden\n" in result.stdout.str() and "--- golden tool calls" in result.stdout.str()


def test_an_edited_tools_file_marks_the_golden_stale_and_replay_gives_back_the_calls(
    pytester, write, openai_config, served
):
    openai_config()
    write("tools.yaml", TOOLS_FILE)
    write(
        "s.prompt.yaml",
        TOOL_SUITE.replace("[golden]", "[golden, {tool_call: {name: lookup_order, arguments: {order_id: A-17}}}]"),
    )
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1)
    pytester.runpytest("--promptguard", "--promptguard-replay").assert_outcomes(passed=1)  # the calls come back
    write("tools.yaml", TOOLS_FILE.replace("order_id: {type: string}", "order_id: {type: string, description: The id}"))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*✗ golden: prompt changed since the golden was recorded*"])
