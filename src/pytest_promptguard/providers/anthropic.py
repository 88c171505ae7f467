"""Anthropic Messages API (`POST /v1/messages`), spoken over plain HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from ..config import ModelSpec
from ..results import Request, ToolCall, Usage
from .base import ProviderError, Reply, api_key, estimated_usage, parse_answer, post_json

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the API refuses a request without max_tokens; suites rarely think to set it


class AnthropicProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def endpoint(self) -> str:
        return f"{self.spec.base_url}/messages"

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        assert http is not None
        headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        key = api_key(self.spec)
        if key:
            headers["x-api-key"] = key
        data = await post_json(http, self.endpoint, request_body(request), headers)
        return parse_answer(parse_message, data, self.endpoint, request)


def request_body(request: Request) -> dict[str, Any]:
    """System messages move to the top-level `system` string: the API accepts only user/assistant turns."""
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    turns = [{"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"]
    body: dict[str, Any] = {"model": request.model_id, "messages": turns, "max_tokens": DEFAULT_MAX_TOKENS}
    if system:
        body["system"] = system
    body.update(request.params)
    return body


def parse_message(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    blocks = data.get("content")
    if not isinstance(blocks, list):
        raise ProviderError("bad_response", f"{endpoint} answered without 'content'")
    blocks = [b for b in blocks if isinstance(b, dict)]
    text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
    tool_calls = tuple(
        ToolCall(name=b.get("name", ""), arguments=b.get("input"), id=b.get("id"))
        for b in blocks
        if b.get("type") == "tool_use"
    )
    return Reply(
        text=text,
        tool_calls=tool_calls,
        model_served=data.get("model"),
        finish_reason=data.get("stop_reason"),
        usage=_usage(data.get("usage"), request, text),
    )


def _usage(raw: Any, request: Request, text: str) -> Usage:
    if not isinstance(raw, dict) or raw.get("input_tokens") is None:
        return estimated_usage(request.messages, text)
    # Anthropic's `input_tokens` counts only the tokens after the last cache breakpoint: cache reads and
    # writes are reported apart (per its docs, total input = input_tokens + cache_read_input_tokens
    # + cache_creation_input_tokens). Sum them so input_tokens is the whole prompt, as for every other
    # provider, with cache reads the cached part of it (pricing.cost_usd relies on this).
    cache_read = raw.get("cache_read_input_tokens")
    return Usage(
        input_tokens=raw["input_tokens"] + (cache_read or 0) + (raw.get("cache_creation_input_tokens") or 0),
        output_tokens=raw.get("output_tokens"),
        cached_input_tokens=cache_read,
    )
