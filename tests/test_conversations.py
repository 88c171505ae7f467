"""Multi-turn conversations: turns sent in order with each reply (and declared tool results) fed back, checks
per reply and on the whole transcript, goldens per reply, and each provider's wire format for the history."""

from __future__ import annotations

import json

import yaml

from pytest_promptguard.core.results import Request
from pytest_promptguard.providers import anthropic, gemini, ollama, openai

from .servers import Reply, chat_completion

ORDER_SUITE = """
    cases:
      - id: order-status
        prompt: [{role: system, content: "You are Acme's support agent."}]
        turns:
          - user: "Where is my order {{order}}?"
            checks: [{contains: ""}]
          - tool: {name: lookup_order, result: {status: shipped, eta: Tuesday}}
            checks: [{contains: Tuesday}, golden]
          - user: "Thanks!"
            checks: [{regex: "(?i)welcome"}]
        vars: {order: A-17}
        checks: [{contains: "A-17"}]
"""


def agent(request: dict, headers: dict) -> Reply:
    """Calls lookup_order for an order question, answers from the tool result, and is polite."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        result = json.loads(last["content"])
        text = f"Your order A-17 has {result['status']} and arrives {result['eta']}."
        return Reply(body=chat_completion(text, prompt_tokens=30, completion_tokens=12))
    if "Where is my order" in last["content"]:
        body = chat_completion("", prompt_tokens=20, completion_tokens=8, finish_reason="tool_calls")
        body["choices"][0]["message"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order_id": "A-17"}'},
                }
            ],
        }
        return Reply(body=body)
    return Reply(body=chat_completion("You're welcome!", prompt_tokens=40, completion_tokens=3))


def run(pytester, *args: str):
    return pytester.runpytest("--promptguard", "-p", "no:randomly", *args)


def test_a_three_turn_conversation_with_a_tool_result_in_the_middle(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = agent
    write("s.prompt.yaml", ORDER_SUITE)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    # What was sent: the history grows turn by turn, in Chat Completions' own shape.
    first, second, third = model_server.requests
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert second["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id": "A-17"}'},
            }
        ],
    }
    assert second["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_abc",
        "content": '{"status": "shipped", "eta": "Tuesday"}',
    }
    assert [m["role"] for m in third["messages"]] == ["system", "user", "assistant", "tool", "assistant", "user"]
    # The golden keeps each reply.
    golden = yaml.safe_load((pytester.path / "__golden__" / "s.prompt.golden.yaml").read_text())
    entry = golden["cases"]["order-status"]["fast"]
    assert entry["turns"] == [
        {"output": "", "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A-17"}}]},
        {"output": "Your order A-17 has shipped and arrives Tuesday."},
        {"output": "You're welcome!"},
    ]
    assert "output" not in entry and entry["tokens_in"] == 90 and entry["tokens_out"] == 23
    # Replayed from the golden, every reply's checks run again.
    run(pytester, "--promptguard-replay").assert_outcomes(passed=1)


def test_each_reply_is_logged_and_its_figures_summed(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = agent
    write("s.prompt.yaml", ORDER_SUITE)
    run(pytester, f"--promptguard-log={pytester.path / 'calls.jsonl'}").assert_outcomes(failed=1)  # no golden yet
    line = json.loads((pytester.path / "calls.jsonl").read_text().splitlines()[0])
    assert [r["output"] for r in line["replies"]] == [
        "",
        "Your order A-17 has shipped and arrives Tuesday.",
        "You're welcome!",
    ]
    assert line["replies"][0]["tool_calls"][0]["arguments"] == {"order_id": "A-17"}
    assert line["tokens_in"] == 90 and line["latency_ms"] >= sum(r["latency_ms"] for r in line["replies"]) - 0.1
    assert line["stopped"] is None
    assert [m["role"] for m in line["prompt"]] == ["system", "user", "tool", "user"]


def test_a_reply_check_failure_names_the_reply(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = agent
    write("s.prompt.yaml", ORDER_SUITE.replace("contains: Tuesday", "contains: Monday").replace(", golden", ""))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*✗ contains: reply 2: *Monday*"])


def test_a_model_that_does_not_call_the_tool_ends_the_conversation_as_a_failure(
    pytester, write, model_server, openai_config
):
    openai_config()
    model_server.responder = lambda request, headers: Reply(body=chat_completion("I cannot look that up."))
    write("s.prompt.yaml", ORDER_SUITE.replace(", golden", ""))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*✗ conversation: turn 2: the model did not call 'lookup_order' (it called no tool), so the turn's "
            "declared tool result cannot be fed back*"
        ]
    )
    assert len(model_server.requests) == 1  # nothing sent after the conversation broke


def test_reply_goldens_drift_per_reply(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = agent
    write("s.prompt.yaml", ORDER_SUITE)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)

    def changed(request: dict, headers: dict) -> Reply:
        if request["messages"][-1]["role"] == "tool":
            return Reply(body=chat_completion("Sorry, our systems are down, please call us about the order then."))
        return agent(request, headers)

    model_server.responder = changed
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*✗ golden: reply 2: output drifted from the golden: *"])


def test_conversation_mistakes_are_collection_errors(pytester, write, openai_config):
    openai_config()
    write(
        "a.prompt.yaml",
        """
        cases:
          - id: c
            turns:
              - user: hi
              - assistant: Hello!
              - tool: {name: lookup_order, result: {}}
    """,
    )
    write(
        "b.prompt.yaml",
        """
        cases:
          - id: c
            turns:
              - user: hi
                checks: [{contains: x}]
              - assistant: Hello!
              - user: bye
    """,
    )
    result = run(pytester)
    result.stdout.fnmatch_lines(
        [
            "a.prompt.yaml:6: case 'c': a tool result must follow a user message (whose reply calls the tool) or another tool result",
            "*fix: put the tool result right after the user turn that makes the model call the tool",
        ]
    )
    result.stdout.fnmatch_lines(["b.prompt.yaml:4: case 'c': turn 1 has checks but the model does not reply after it"])


HISTORY = (
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where are A-17 and B-2?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "name": "lookup_order", "arguments": {"order_id": "A-17"}},
            {"id": "c2", "name": "lookup_order", "arguments": {"order_id": "B-2"}},
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "lookup_order", "content": '{"status": "shipped"}'},
    {"role": "tool", "tool_call_id": "c2", "name": "lookup_order", "content": '{"status": "packed"}'},
)


def _request(provider: str) -> Request:
    return Request(model="m", provider=provider, model_id="x", messages=HISTORY, params={})


def test_anthropic_sends_tool_uses_and_merges_parallel_results_into_one_user_turn():
    body = anthropic.request_body(_request("anthropic"))
    assert body["system"] == "Be brief."
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "c1", "name": "lookup_order", "input": {"order_id": "A-17"}},
            {"type": "tool_use", "id": "c2", "name": "lookup_order", "input": {"order_id": "B-2"}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": '{"status": "shipped"}'},
            {"type": "tool_result", "tool_use_id": "c2", "content": '{"status": "packed"}'},
        ],
    }


def test_gemini_sends_function_calls_and_responses():
    body = gemini.request_body(_request("gemini"))
    assert body["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "lookup_order", "args": {"order_id": "A-17"}}},
            {"functionCall": {"name": "lookup_order", "args": {"order_id": "B-2"}}},
        ],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "lookup_order", "response": {"status": "shipped"}}},
            {"functionResponse": {"name": "lookup_order", "response": {"status": "packed"}}},
        ],
    }


def test_ollama_and_openai_history_shapes():
    messages = ollama.request_body(_request("ollama"))["messages"]
    assert messages[2]["tool_calls"][1] == {"function": {"name": "lookup_order", "arguments": {"order_id": "B-2"}}}
    assert messages[3] == {"role": "tool", "content": '{"status": "shipped"}', "tool_name": "lookup_order"}
    assert openai.chat_message(HISTORY[2])["tool_calls"][0]["function"]["arguments"] == '{"order_id": "A-17"}'


def test_a_turn_can_come_from_the_application_s_prompt_file(pytester, write, model_server, openai_config):
    openai_config()
    write("prompts/followup.md", "And when will order {{order}} arrive?")
    write(
        "s.prompt.yaml",
        """
        cases:
          - id: c
            vars: {order: B-2}
            turns:
              - user: hi
              - user: {file: prompts/followup.md}
    """,
    )
    run(pytester).assert_outcomes(passed=1)
    assert model_server.requests[-1]["messages"][-1] == {"role": "user", "content": "And when will order B-2 arrive?"}
