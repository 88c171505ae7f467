"""OpenAI Chat Completions, spoken by OpenAI and by vLLM, Ollama, llama.cpp, LM Studio and others."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ..config import ModelSpec
from ..results import Request, ToolCall, Usage
from .base import ProviderError, Reply, api_key, estimated_usage, parse_answer, post_json


class OpenAIProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def endpoint(self) -> str:
        return f"{self.spec.base_url}/chat/completions"

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        assert http is not None
        headers = {}
        key = api_key(self.spec)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": request.model_id, "messages": list(request.messages), **request.params}
        data = await post_json(http, self.endpoint, body, headers)
        return parse_answer(parse_chat_completion, data, self.endpoint, request)


def parse_chat_completion(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    choices = data.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ProviderError("bad_response", f"{endpoint} answered without 'choices'")
    message = choices[0].get("message") or {}
    text = message.get("content") or ""
    if not isinstance(text, str):
        text = json.dumps(text)
    tool_calls = tuple(_tool_call(t) for t in message.get("tool_calls") or [])
    return Reply(
        text=text,
        tool_calls=tool_calls,
        model_served=data.get("model"),
        fingerprint=data.get("system_fingerprint"),
        finish_reason=choices[0].get("finish_reason"),
        usage=_usage(data.get("usage"), request, text),
    )


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    function = raw.get("function") or {}
    arguments: Any = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass  # keep the raw string: a malformed argument list is itself worth checking
    return ToolCall(name=function.get("name", ""), arguments=arguments, id=raw.get("id"))


def _usage(raw: Any, request: Request, text: str) -> Usage:
    if not isinstance(raw, dict) or raw.get("prompt_tokens") is None:
        return estimated_usage(request.messages, text)
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=raw.get("prompt_tokens"),
        output_tokens=raw.get("completion_tokens"),
        cached_input_tokens=details.get("cached_tokens") if isinstance(details, dict) else None,
    )
