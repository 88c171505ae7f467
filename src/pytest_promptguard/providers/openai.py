"""OpenAI Chat Completions, spoken by OpenAI and by vLLM, Ollama, llama.cpp, LM Studio and others."""

from __future__ import annotations

import json
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
from .stream import DONE, read_stream, stream_error, stream_events


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
        body = {"model": request.model_id, "messages": [chat_message(m) for m in request.messages], **request.params}
        body.update(tool_fields(request))
        if self.spec.stream:
            # include_usage: a last chunk, its `choices` empty, carries the usage (else it is estimated).
            body.update(stream=True, stream_options={"include_usage": True})
            events = stream_events(http, self.endpoint, body, headers)
            return await read_stream(events, ChatStream(self.endpoint), parse_chat_completion, self.endpoint, request)
        data = await post_json(http, self.endpoint, body, headers)
        return parse_answer(parse_chat_completion, data, self.endpoint, request)

    @property
    def embed_endpoint(self) -> str:
        return f"{self.spec.base_url}/embeddings"

    async def embed(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        """`POST /embeddings` {model, input: [text]}: `data[0].embedding`, `usage.prompt_tokens`."""
        assert http is not None
        key = api_key(self.spec)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        text = embedding_request_text(request)
        data = await post_json(http, self.embed_endpoint, {"model": request.model_id, "input": [text]}, headers)
        return parse_answer(parse_embeddings, data, self.embed_endpoint, request)


def parse_embeddings(data: dict[str, Any], endpoint: str, request: Request) -> Reply:
    items = data.get("data")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise ProviderError("bad_response", f"{endpoint} answered without 'data'")
    usage = data.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    text = embedding_request_text(request)
    counted = (
        Usage(input_tokens=tokens, output_tokens=0)
        if tokens is not None
        else Usage(input_tokens=estimate_tokens(text), output_tokens=0, estimated=True)
    )
    return embedding_reply(items[0].get("embedding"), endpoint, counted, data.get("model"))


def tool_fields(request: Request) -> dict[str, Any]:
    """A suite's `tools`, `tool_choice` and `response_format` as Chat Completions takes them (Ollama's native
    API takes the same tools): a tool in normal form is already the `function` object of the wire format."""
    fields: dict[str, Any] = {}
    if request.tools:
        fields["tools"] = [{"type": "function", "function": dict(tool)} for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        fields["tool_choice"] = (
            {"type": "function", "function": {"name": choice["name"]}} if isinstance(choice, dict) else choice
        )
    output = request.response_format
    if output == "json":
        fields["response_format"] = {"type": "json_object"}
    elif output is not None:
        schema: dict[str, Any] = {"name": output.get("name", "response"), "schema": output["json_schema"]}
        if "strict" in output:
            schema["strict"] = output["strict"]
        fields["response_format"] = {"type": "json_schema", "json_schema": schema}
    return fields


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
    prompt = raw.get("prompt_tokens_details") if isinstance(raw.get("prompt_tokens_details"), dict) else {}
    completion = raw.get("completion_tokens_details") if isinstance(raw.get("completion_tokens_details"), dict) else {}
    # Reasoning is billed as output everywhere, but counted apart by some servers: OpenAI's completion_tokens
    # include completion_tokens_details.reasoning_tokens, xAI's do not (its total_tokens then adds them), and
    # Perplexity reports a top-level reasoning_tokens beside completion_tokens (as genai-prices reads them).
    output, apart = raw.get("completion_tokens"), raw.get("reasoning_tokens")
    reasoning = apart if apart is not None else completion.get("reasoning_tokens")
    beside = apart is not None or raw.get("total_tokens") == raw["prompt_tokens"] + (output or 0) + (reasoning or 0)
    if output is not None and reasoning and beside:
        output += reasoning
    return Usage(
        input_tokens=raw.get("prompt_tokens"),
        output_tokens=output,
        cached_input_tokens=prompt.get("cached_tokens"),
        cache_write_tokens=prompt.get("cache_write_tokens"),
        reasoning_tokens=reasoning or None,
    )


class ChatStream:
    """`chat.completion.chunk` events gathered into a whole chat completion: the first choice's content pieces
    joined, its tool calls put together by `index` (id and name from their first delta, the `arguments` text
    joined), the last finish_reason, model and fingerprint, and the usage of the final chunk."""

    last_event = "data: [DONE]"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.complete = False
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.fields: dict[str, Any] = {}  # model, system_fingerprint, usage

    def add(self, event: Any) -> bool:
        if event is DONE:
            self.complete = True
            return False
        if event.get("error"):  # some servers report a failure mid-stream as a chunk of its own
            error = event["error"]
            if not isinstance(error, dict):
                error = {"message": error}
            raise stream_error(self.endpoint, error.get("type") or error.get("code") or "error", error.get("message"))
        self.fields.update(
            (key, event[key]) for key in ("model", "system_fingerprint", "usage") if event.get(key) is not None
        )
        content = False
        for choice in event.get("choices") or []:  # empty in the usage chunk
            if choice.get("index", 0) != 0:
                continue  # n > 1: the record keeps the first choice, as the non-streamed parser does
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
                content = True
            for piece in delta.get("tool_calls") or []:
                self._add_tool_call(piece)
                content = True
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return content

    def _add_tool_call(self, piece: dict[str, Any]) -> None:
        call = self.tool_calls.setdefault(piece.get("index", 0), {"id": None, "name": None, "arguments": []})
        function = piece.get("function") or {}
        call["id"] = call["id"] or piece.get("id")
        call["name"] = call["name"] or function.get("name")
        call["arguments"].append(function.get("arguments") or "")

    def answer(self) -> dict[str, Any]:
        tool_calls = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"] or "", "arguments": "".join(call["arguments"])},
            }
            for _, call in sorted(self.tool_calls.items())
        ]
        message = {"role": "assistant", "content": "".join(self.text), "tool_calls": tool_calls}
        return {**self.fields, "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}]}


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message of promptguard's own shape (see conversation.py) as Chat Completions takes it: an assistant's
    tool calls with their arguments as JSON text, a tool result answering its call's id."""
    if message["role"] == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message["content"]}
    if message.get("tool_calls"):
        calls = [
            {
                "id": t["id"],
                "type": "function",
                "function": {"name": t["name"], "arguments": json.dumps(t["arguments"])},
            }
            for t in message["tool_calls"]
        ]
        return {"role": "assistant", "content": message["content"] or None, "tool_calls": calls}
    return {"role": message["role"], "content": message["content"]}
