"""Google Gemini API `generateContent`, spoken over plain HTTP.

The key goes in the `x-goog-api-key` header, never in the URL: URLs end up in error messages and logs.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from ..config import ModelSpec
from ..results import Request, ToolCall, Usage
from .base import ProviderError, Reply, api_key, estimated_usage, parse_answer, post_json

# Request fields that live beside `generationConfig`, not inside it.
TOP_LEVEL_FIELDS = {"tools", "toolConfig", "safetySettings", "cachedContent"}
# OpenAI-style names whose Gemini name is not just their camelCase.
RENAMED = {"max_tokens": "maxOutputTokens", "stop": "stopSequences"}
ROLES = {"user": "user", "assistant": "model"}


class GeminiProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def endpoint(self) -> str:
        model = self.spec.model or ""
        resource = model if "/" in model else f"models/{model}"  # accept "models/x" and "tunedModels/x" too
        return f"{self.spec.base_url}/{resource}:generateContent"

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        assert http is not None
        headers = {}
        key = api_key(self.spec)
        if key:
            headers["x-goog-api-key"] = key
        data = await post_json(http, self.endpoint, request_body(request), headers)
        return parse_answer(parse_response, data, self.endpoint, request)


def camel_case(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def request_body(request: Request) -> dict[str, Any]:
    """Messages become `contents` (assistant → model), system messages `systemInstruction`, and params
    `generationConfig` (OpenAI-style and snake_case names translated, camelCase names kept)."""
    system = [{"text": m["content"]} for m in request.messages if m["role"] == "system"]
    contents = [
        {"role": ROLES.get(m["role"], m["role"]), "parts": [{"text": m["content"]}]}
        for m in request.messages
        if m["role"] != "system"
    ]
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config: dict[str, Any] = {}
    for name, value in request.params.items():
        field = RENAMED.get(name) or camel_case(name)
        if field == "stopSequences" and isinstance(value, str):
            value = [value]
        (body if field in TOP_LEVEL_FIELDS else config)[field] = value
    if config:
        body["generationConfig"] = config
    return body


def parse_response(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    candidates = data.get("candidates")
    if not candidates or not isinstance(candidates[0], dict):
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        why = f"the prompt was blocked ({blocked})" if blocked else "no 'candidates'"
        raise ProviderError("bad_response", f"{endpoint} answered with {why}")
    candidate = candidates[0]
    parts = [p for p in (candidate.get("content") or {}).get("parts") or [] if isinstance(p, dict)]
    # Thought summaries (`thought: true`) are the model's reasoning, not its answer.
    text = "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
    tool_calls = tuple(
        ToolCall(name=call.get("name", ""), arguments=call.get("args"), id=call.get("id"))
        for call in (p["functionCall"] for p in parts if isinstance(p.get("functionCall"), dict))
    )
    return Reply(
        text=text,
        tool_calls=tool_calls,
        model_served=data.get("modelVersion"),
        finish_reason=candidate.get("finishReason"),
        usage=_usage(data.get("usageMetadata"), request, text),
    )


def _usage(raw: Any, request: Request, text: str) -> Usage:
    if not isinstance(raw, dict) or raw.get("promptTokenCount") is None:
        return estimated_usage(request.messages, text)
    # promptTokenCount already includes cachedContentTokenCount. Thinking tokens are billed as output but
    # reported apart from candidatesTokenCount, so they are added to it.
    return Usage(
        input_tokens=raw["promptTokenCount"],
        output_tokens=(raw.get("candidatesTokenCount") or 0) + (raw.get("thoughtsTokenCount") or 0),
        cached_input_tokens=raw.get("cachedContentTokenCount"),
    )
