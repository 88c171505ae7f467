"""Multi-turn conversations: a case's turns sent in order, each model reply (and each declared tool result)
fed back, one model call per reply.

A turn is a plain dict, so it hashes into the request digest and crosses xdist workers as it is:
`{"role": "user", "content": ..., "reply": True}`, `{"role": "assistant", "content": ...}` (a fixed reply:
no call), `{"role": "tool", "name": ..., "content": <result as JSON text>, "reply": ...}` (the result of the
model's last call of that tool). Messages sent to providers keep promptguard's own shape: an assistant
message may carry `tool_calls: [{id, name, arguments}]`, a tool message its `tool_call_id` and `name`;
each provider maps them to its wire format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ..core.results import TRANSCRIPT_SEPARATOR, Call, Request, ToolCall, Usage


async def converse(request: Request, reply: Callable[[Request], Awaitable[Call]]) -> Call:
    """Play the conversation: `reply(request)` makes one model call. The result sums up every reply; a reply
    that fails, or a tool result the model gave no call to answer, ends the conversation there."""
    messages = list(request.messages)
    replies: list[Call] = []
    stopped = None
    for number, turn in enumerate(request.turns, 1):
        if turn["role"] == "tool":
            answered = _tool_call_answered(turn["name"], messages)
            if answered is None:
                called = ", ".join(t.name for t in replies[-1].tool_calls) if replies else ""
                stopped = (
                    f"turn {number}: the model did not call '{turn['name']}' (it called {called or 'no tool'}), "
                    "so the turn's declared tool result cannot be fed back"
                )
                break
            messages.append(
                {"role": "tool", "tool_call_id": answered, "name": turn["name"], "content": turn["content"]}
            )
        else:
            messages.append({"role": turn["role"], "content": turn["content"]})
        if turn.get("reply"):
            call = await reply(dataclasses.replace(request, messages=tuple(messages), turns=()))
            replies.append(call)
            if call.error is not None:
                break
            messages.append(assistant_message(call, len(replies)))
    return transcript(replies, stopped)


def assistant_message(call: Call, reply_number: int) -> dict[str, Any]:
    """The model's reply as it goes back into the conversation; tool calls without an id (Gemini, Ollama) get
    one, so that results can answer them."""
    message: dict[str, Any] = {"role": "assistant", "content": call.text}
    if call.tool_calls:
        message["tool_calls"] = [
            {"id": t.id or f"call_{reply_number}_{index}", "name": t.name, "arguments": t.arguments}
            for index, t in enumerate(call.tool_calls)
        ]
    return message


def _tool_call_answered(name: str, messages: Sequence[dict[str, Any]]) -> str | None:
    """The id of the model's last reply's first call of tool `name` that no result answers yet."""
    if not messages or messages[-1]["role"] not in ("assistant", "tool"):
        return None
    reply_index = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    answered = {m["tool_call_id"] for m in messages[reply_index + 1 :] if m["role"] == "tool"}
    calls = messages[reply_index].get("tool_calls") or []
    return next((c["id"] for c in calls if c["name"] == name and c["id"] not in answered), None)


def transcript(replies: Sequence[Call], stopped: str | None) -> Call:
    """One call standing for the whole conversation: its replies' text joined, their tool calls in order, time,
    tokens and cost summed, the last reply's served model; the first error, named by its reply."""
    last = replies[-1]
    error = next((c.error for c in replies if c.error is not None), None)
    if error is not None and len(replies) > 1:
        error = dataclasses.replace(error, message=f"reply {len(replies)}: {error.message}")
    costs = [c.cost_usd for c in replies]
    return Call(
        model=last.model,
        provider=last.provider,
        model_asked=last.model_asked,
        text=TRANSCRIPT_SEPARATOR.join(c.text for c in replies),
        tool_calls=tuple(ToolCall(t.name, t.arguments, t.id) for c in replies for t in c.tool_calls),
        model_served=last.model_served,
        fingerprint=last.fingerprint,
        finish_reason=last.finish_reason,
        latency_ms=round(sum(c.latency_ms for c in replies), 2),
        ttft_ms=replies[0].ttft_ms,
        usage=_sum_usage([c.usage for c in replies]),
        cost_usd=None if any(c is None for c in costs) else sum(costs),  # type: ignore[arg-type]
        price_source=_joined(c.price_source for c in replies),
        priced_as=_joined(c.priced_as for c in replies),
        attempts=sum(c.attempts for c in replies),
        source="live"
        if all(c.source == "live" for c in replies)
        else next(c.source for c in replies if c.source != "live"),
        started_at=replies[0].started_at,
        error=error,
        turns=tuple(replies),
        stopped=stopped,
    )


def _sum_usage(usages: Sequence[Usage]) -> Usage:
    def total(name: str) -> int | None:
        values = [getattr(u, name) for u in usages]
        return None if all(v is None for v in values) else sum(v or 0 for v in values)

    return Usage(
        input_tokens=total("input_tokens"),
        output_tokens=total("output_tokens"),
        cached_input_tokens=total("cached_input_tokens"),
        estimated=any(u.estimated for u in usages),
        cache_write_tokens=total("cache_write_tokens"),
        reasoning_tokens=total("reasoning_tokens"),
    )


def _joined(values: Iterable[str | None]) -> str | None:
    """The replies' distinct values, in order ("; "-joined); None when no reply has one."""
    return "; ".join(dict.fromkeys(v for v in values if v)) or None
