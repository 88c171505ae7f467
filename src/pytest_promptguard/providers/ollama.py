"""Ollama's native chat API (`POST /api/chat`), which unlike its OpenAI-compatible one takes every model option."""

from __future__ import annotations

from typing import Any

import httpx

from ..config.spec import ModelSpec
from ..core.results import Request, ToolCall, Usage
from .base import (
    ProviderError,
    Reply,
    api_key,
    embedding_reply,
    embedding_request_text,
    estimate_tokens,
    estimated_usage,
    parse_answer,
)
from .http import post_json
from .stream import json_lines, read_stream, stream_error

# Request fields that live beside `options`, not inside it.
TOP_LEVEL_FIELDS = {"tools", "format", "think", "keep_alive"}
RENAMED = {"max_tokens": "num_predict"}


class OllamaProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def endpoint(self) -> str:
        return f"{self.spec.base_url}/api/chat"

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        assert http is not None
        headers = {}
        key = api_key(self.spec)  # a local server needs none; a hosted or proxied one may
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if self.spec.stream:
            events = json_lines(http, self.endpoint, {**request_body(request), "stream": True}, headers)
            return await read_stream(events, ChatLines(self.endpoint), parse_chat, self.endpoint, request)
        data = await post_json(http, self.endpoint, request_body(request), headers)
        return parse_answer(parse_chat, data, self.endpoint, request)

    @property
    def embed_endpoint(self) -> str:
        return f"{self.spec.base_url}/api/embed"

    async def embed(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        """`POST /api/embed` {model, input: [text]}: `embeddings[0]`, `prompt_eval_count`."""
        assert http is not None
        key = api_key(self.spec)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {"model": request.model_id, "input": [embedding_request_text(request)]}
        data = await post_json(http, self.embed_endpoint, body, headers)
        return parse_answer(parse_embed, data, self.embed_endpoint, request)


def parse_embed(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    vectors = data.get("embeddings")
    if not isinstance(vectors, list) or not vectors:
        raise ProviderError("bad_response", f"{endpoint} answered without 'embeddings'")
    tokens = data.get("prompt_eval_count")
    usage = (
        Usage(input_tokens=tokens, output_tokens=0)
        if tokens is not None
        else Usage(input_tokens=estimate_tokens(embedding_request_text(request)), output_tokens=0, estimated=True)
    )
    return embedding_reply(vectors[0], endpoint, usage, data.get("model"))


def request_body(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model_id,
        "messages": [chat_message(m) for m in request.messages],
        "stream": False,
    }
    options: dict[str, Any] = {}
    for name, value in request.params.items():
        if name in TOP_LEVEL_FIELDS:
            body[name] = value
        else:
            options[RENAMED.get(name, name)] = value
    if options:
        body["options"] = options
    if request.tools:
        body["tools"] = [{"type": "function", "function": dict(tool)} for tool in request.tools]
    if request.response_format is not None:  # `format`: "json", or the JSON Schema the answer must follow
        body["format"] = "json" if request.response_format == "json" else request.response_format["json_schema"]
    return body


def unsupported(request: Request) -> tuple[str, str] | None:
    """/api/chat has no tool_choice: the model always decides (`auto`)."""
    if request.tool_choice not in (None, "auto"):
        return (
            f"Ollama's chat API has no tool_choice, so tool_choice {_choice(request.tool_choice)} cannot be sent",
            "remove tool_choice (or set it to auto, what Ollama always does) for this model, or give the case "
            "models that take it",
        )
    return None


def _choice(choice: Any) -> str:
    return f"{{name: {choice['name']}}}" if isinstance(choice, dict) else f"'{choice}'"


def parse_chat(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    message = data.get("message")
    if not isinstance(message, dict):
        raise ProviderError("bad_response", f"{endpoint} answered without 'message'")
    text = message.get("content") or ""
    tool_calls = tuple(
        ToolCall(name=function.get("name", ""), arguments=function.get("arguments"), id=raw.get("id"))
        for raw in message.get("tool_calls") or []
        if isinstance(raw, dict) and isinstance(function := raw.get("function"), dict)
    )
    return Reply(
        text=text,
        tool_calls=tool_calls,
        model_served=data.get("model"),
        finish_reason=data.get("done_reason"),
        usage=_usage(data, request, text),
    )


def _usage(data: dict[str, Any], request: Request, text: str) -> Usage:
    prompt, output = data.get("prompt_eval_count"), data.get("eval_count")
    if prompt is None or output is None:
        return estimated_usage(request.messages, text)
    return Usage(input_tokens=prompt, output_tokens=output)


class ChatLines:
    """`/api/chat` streamed as JSON lines, gathered into one answer: the message's content pieces joined, its tool
    calls (each sent whole), and the last line's `done_reason`, `prompt_eval_count` and `eval_count`; the line
    with `"done": true` is the last. A line with `error` is the call's error."""

    last_event = 'a line with "done": true'

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.complete = False
        self.text: list[str] = []
        self.tool_calls: list[Any] = []
        self.last: dict[str, Any] = {}

    def add(self, event: dict[str, Any]) -> bool:
        if event.get("error"):
            raise stream_error(self.endpoint, "error", event["error"])
        message = event.get("message") or {}
        text, tool_calls = message.get("content") or "", message.get("tool_calls") or []
        self.text.append(text)
        self.tool_calls += tool_calls
        self.last = event
        self.complete = bool(event.get("done"))
        return bool(text or tool_calls)  # `thinking` pieces are not the answer

    def answer(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.text), "tool_calls": self.tool_calls}
        return {**self.last, "message": message}


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message of promptguard's own shape (see conversation.py) as /api/chat takes it: tool calls with their
    arguments as objects, a tool result naming its tool."""
    if message["role"] == "tool":
        return {"role": "tool", "content": message["content"], "tool_name": message["name"]}
    if message.get("tool_calls"):
        calls = [{"function": {"name": t["name"], "arguments": t["arguments"]}} for t in message["tool_calls"]]
        return {"role": "assistant", "content": message["content"], "tool_calls": calls}
    return {"role": message["role"], "content": message["content"]}
