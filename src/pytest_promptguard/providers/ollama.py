"""Ollama's native chat API (`POST /api/chat`), which unlike its OpenAI-compatible one takes every model option."""

from __future__ import annotations

from typing import Any

import httpx

from ..config import ModelSpec
from ..results import Request, ToolCall, Usage
from .base import ProviderError, Reply, api_key, estimated_usage, parse_answer, post_json

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
        data = await post_json(http, self.endpoint, request_body(request), headers)
        return parse_answer(parse_chat, data, self.endpoint, request)


def request_body(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model_id, "messages": list(request.messages), "stream": False}
    options: dict[str, Any] = {}
    for name, value in request.params.items():
        if name in TOP_LEVEL_FIELDS:
            body[name] = value
        else:
            options[RENAMED.get(name, name)] = value
    if options:
        body["options"] = options
    return body


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
