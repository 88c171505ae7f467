"""Google Gemini API `generateContent` (and `streamGenerateContent` as server-sent events), spoken over plain HTTP.

The key goes in the `x-goog-api-key` header, never in the URL: URLs end up in error messages and logs.
"""

from __future__ import annotations

import json
import re
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
    merge_roles,
    parse_answer,
)
from .http import post_json
from .stream import read_stream, stream_error, stream_events

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
        if self.spec.stream:
            return f"{self.spec.base_url}/{resource}:streamGenerateContent?alt=sse"  # without alt=sse: a JSON array
        return f"{self.spec.base_url}/{resource}:generateContent"

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        assert http is not None
        headers = {}
        key = api_key(self.spec)
        if key:
            headers["x-goog-api-key"] = key
        if self.spec.stream:
            events = stream_events(http, self.endpoint, request_body(request), headers)
            return await read_stream(events, ContentStream(self.endpoint), parse_response, self.endpoint, request)
        data = await post_json(http, self.endpoint, request_body(request), headers)
        return parse_answer(parse_response, data, self.endpoint, request)

    @property
    def embed_endpoint(self) -> str:
        model = self.spec.model or ""
        resource = model if "/" in model else f"models/{model}"
        return f"{self.spec.base_url}/{resource}:embedContent"

    async def embed(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        """`POST models/{model}:embedContent` {content: {parts: [{text}]}}: `embedding.values` (no usage: estimated)."""
        assert http is not None
        key = api_key(self.spec)
        headers = {"x-goog-api-key": key} if key else {}
        body = {"content": {"parts": [{"text": embedding_request_text(request)}]}}
        data = await post_json(http, self.embed_endpoint, body, headers)
        return parse_answer(parse_embed_content, data, self.embed_endpoint, request)


def parse_embed_content(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    embedding = data.get("embedding")
    if not isinstance(embedding, dict):
        raise ProviderError("bad_response", f"{endpoint} answered without 'embedding'")
    tokens = estimate_tokens(embedding_request_text(request))
    return embedding_reply(
        embedding.get("values"), endpoint, Usage(input_tokens=tokens, output_tokens=0, estimated=True)
    )


def camel_case(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def request_body(request: Request) -> dict[str, Any]:
    """Messages become `contents` (assistant → model), system messages `systemInstruction`, and params
    `generationConfig` (OpenAI-style and snake_case names translated, camelCase names kept)."""
    system = [{"text": m["content"]} for m in request.messages if m["role"] == "system"]
    contents = merge_roles([_content(m) for m in request.messages if m["role"] != "system"], key="parts")
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
    body.update(tool_fields(request, body.get("generationConfig")))
    return body


MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def tool_fields(request: Request, generation_config: Any = None) -> dict[str, Any]:
    """A suite's tools as one `functionDeclarations` tool (parameters as `parametersJsonSchema`, which takes JSON
    Schema as it is, where `parameters` takes only an OpenAPI subset), tool_choice as
    `toolConfig.functionCallingConfig` (`required` is mode ANY; a named tool is ANY with `allowedFunctionNames`),
    and response_format as `generationConfig.responseMimeType` application/json plus `responseJsonSchema` (the
    JSON Schema counterpart of `responseSchema`), beside the other generationConfig."""
    fields: dict[str, Any] = {}
    if request.tools:
        declarations = [
            {
                **{k: v for k, v in tool.items() if k != "parameters"},
                **({"parametersJsonSchema": tool["parameters"]} if "parameters" in tool else {}),
            }
            for tool in request.tools
        ]
        fields["tools"] = [{"functionDeclarations": declarations}]
    choice = request.tool_choice
    if choice is not None:
        calling: dict[str, Any] = {"mode": "ANY" if isinstance(choice, dict) else MODES[choice]}
        if isinstance(choice, dict):
            calling["allowedFunctionNames"] = [choice["name"]]
        fields["toolConfig"] = {"functionCallingConfig": calling}
    output = request.response_format
    if output is not None:
        config = dict(generation_config) if isinstance(generation_config, dict) else {}
        config["responseMimeType"] = "application/json"
        if isinstance(output, dict):
            config["responseJsonSchema"] = output["json_schema"]
        fields["generationConfig"] = config
    return fields


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
    # reported apart from candidatesTokenCount, so they are added to it; the prompts of tools the model ran
    # (toolUsePromptTokenCount) are billed as input, apart from promptTokenCount.
    return Usage(
        input_tokens=raw["promptTokenCount"] + (raw.get("toolUsePromptTokenCount") or 0),
        output_tokens=(raw.get("candidatesTokenCount") or 0) + (raw.get("thoughtsTokenCount") or 0),
        cached_input_tokens=raw.get("cachedContentTokenCount"),
        reasoning_tokens=raw.get("thoughtsTokenCount"),
    )


class ContentStream:
    """`streamGenerateContent` events, each a GenerateContentResponse, gathered into one: the first candidate's
    parts in order (parse_response joins the text, skipping thoughts, and takes the functionCall parts whole), its
    finishReason, and the modelVersion and usageMetadata of the last event that has them. The stream has no end
    marker: it is whole once a candidate has a finishReason (or the prompt was blocked, which ends it too)."""

    last_event = "a candidate with a finishReason"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.complete = False
        self.parts: list[dict[str, Any]] = []
        self.finish_reason: str | None = None
        self.fields: dict[str, Any] = {}  # modelVersion, usageMetadata, promptFeedback

    def add(self, event: dict[str, Any]) -> bool:
        if event.get("error"):
            error = event["error"]
            if not isinstance(error, dict):
                error = {"message": error}
            raise stream_error(self.endpoint, error.get("status") or "error", error.get("message"), error.get("code"))
        self.fields.update(
            (key, event[key]) for key in ("modelVersion", "promptFeedback") if event.get(key) is not None
        )
        usage = event.get("usageMetadata")
        if isinstance(usage, dict) and usage.get("promptTokenCount") is not None:  # some events carry only part of it
            self.fields["usageMetadata"] = usage
        if (event.get("promptFeedback") or {}).get("blockReason"):
            self.complete = True
        candidates = event.get("candidates") or []
        if not candidates:
            return False
        candidate = candidates[0]
        parts = [p for p in (candidate.get("content") or {}).get("parts") or [] if isinstance(p, dict)]
        self.parts += parts
        if candidate.get("finishReason"):
            self.finish_reason, self.complete = candidate["finishReason"], True
        return any(_is_content(p) for p in parts)

    def answer(self) -> dict[str, Any]:
        candidates = [{"content": {"role": "model", "parts": self.parts}, "finishReason": self.finish_reason}]
        return {**self.fields, "candidates": candidates if self.parts or self.finish_reason else []}


def _is_content(part: dict[str, Any]) -> bool:
    """A part of the answer itself: text that is not a thought summary, or a function call."""
    text = part.get("text")
    return bool(isinstance(text, str) and text and not part.get("thought")) or isinstance(
        part.get("functionCall"), dict
    )


def _content(message: dict[str, Any]) -> dict[str, Any]:
    """A message of promptguard's own shape (see conversation.py) as a Gemini `content`: an assistant's tool calls
    as `functionCall` parts, a tool result as a user `functionResponse` part naming its function."""
    if message["role"] == "tool":
        try:
            result = json.loads(message["content"])
        except ValueError:
            result = message["content"]
        response = result if isinstance(result, dict) else {"result": result}
        return {"role": "user", "parts": [{"functionResponse": {"name": message["name"], "response": response}}]}
    parts = [{"text": message["content"]}] if message["content"] or not message.get("tool_calls") else []
    parts += [{"functionCall": {"name": t["name"], "args": t["arguments"]}} for t in message.get("tool_calls") or ()]
    return {"role": ROLES.get(message["role"], message["role"]), "parts": parts}
