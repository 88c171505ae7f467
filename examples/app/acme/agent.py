"""The support agent: answers what it can, and calls Acme's order tools when a question needs them.

Deterministic, like the rest of the example app: it reads the tools it is given (`params["tools"]`, from the
suite's `tools:`) and `params["tool_choice"]`, and answers with tool calls (several at once when a question needs
several) or with text. After a tool result (a `tool` message) it answers in words.
"""

from __future__ import annotations

import json
import re

ORDER_ID = re.compile(r"\b([A-Z]-\d+)\b")
HUMAN = ("human", "person", "manager", "complaint")
HOURS = "Our support team is there Monday to Friday, 9:00-17:00 CET."


def respond(messages: list[dict], params: dict) -> dict:
    last = messages[-1]
    if last["role"] == "tool":
        return _reply(_after_tool(last))
    question = last["content"]
    tools = {tool["name"] for tool in params.get("tools", [])}
    choice = params.get("tool_choice", "auto")
    if choice == "none":
        tools = set()
    elif isinstance(choice, dict):
        tools &= {choice["name"]}
    calls = _plan(question, tools)
    if not calls and (choice == "required" or isinstance(choice, dict)) and tools:
        calls = [_escalation(question, sorted(tools)[0])]
    if calls:
        return _reply("", calls)
    return _reply(_answer(question))


def _plan(question: str, tools: set[str]) -> list[dict]:
    """The tool calls a question needs, in the order the agent makes them."""
    lowered, calls = question.lower(), []
    order = ORDER_ID.search(question)
    if any(word in lowered for word in HUMAN) and "escalate" in tools:
        calls.append(_escalation(question, "escalate"))
    if order and "lookup_order" in tools:
        calls.append({"name": "lookup_order", "arguments": {"order_id": order.group(1)}})
    if order and "refund" in lowered and "refund_order" in tools:
        reason = question.split(",", 1)[-1].strip().rstrip(".!") if "," in question else "customer request"
        calls.append({"name": "refund_order", "arguments": {"order_id": order.group(1), "reason": reason}})
    return [dict(call, id=f"call_{index}") for index, call in enumerate(calls, 1)]


def _escalation(question: str, tool: str) -> dict:
    return {"name": tool, "arguments": {"reason": question.strip().rstrip(".!?"), "priority": "high"}}


def _answer(question: str) -> str:
    if "open" in question.lower() or "hours" in question.lower():
        return HOURS
    return "I can look up orders, refund them and put you through to a colleague. What is your order number?"


def _after_tool(message: dict) -> str:
    try:
        result = json.loads(message["content"])
    except ValueError:
        result = message["content"]
    if isinstance(result, dict) and "status" in result:
        return f"Your order is {result['status']}."
    return "Done: I have taken care of it."


def _reply(text: str, tool_calls: list[dict] | None = None) -> dict:
    return {
        "text": text,
        "tool_calls": tool_calls or [],
        "model": "claude-haiku-4-5-20251001",
        "usage": {"input_tokens": 40, "output_tokens": max(1, len(text.split()) + 8 * len(tool_calls or []))},
    }
