"""Anthropic Messages API (`POST /v1/messages`), spoken over plain HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from ..config.loader import ModelSpec
from ..core.results import Request, ToolCall, Usage
from .base import ProviderError, Reply, api_key, estimated_usage, merge_roles, parse_answer, parse_json_text
from .http import post_json
from .stream import read_stream, stream_error, stream_events

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the API refuses a request without max_tokens; suites rarely think to set it


class AnthropicProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @property
    def endpoint(self) -> str:
        return messages_url(self.spec.base_url or "")

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        assert http is not None
        headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        key = api_key(self.spec)
        if key:
            headers["x-api-key"] = key
        if self.spec.stream:
            events = stream_events(http, self.endpoint, {**request_body(request), "stream": True}, headers)
            return await read_stream(events, MessageStream(self.endpoint), parse_message, self.endpoint, request)
        data = await post_json(http, self.endpoint, request_body(request), headers)
        return parse_answer(parse_message, data, self.endpoint, request)


def messages_url(base_url: str) -> str:
    """The Messages API under `base_url`, written either way: with its version (`https://api.anthropic.com/v1`,
    promptguard's default) or without, as the Anthropic SDK takes it (`https://api.anthropic.com`, or a proxy's
    address), where the SDK adds `/v1` itself."""
    return f"{base_url}/messages" if base_url.endswith("/v1") else f"{base_url}/v1/messages"


def request_body(request: Request) -> dict[str, Any]:
    """System messages move to the top-level `system` string: the API accepts only user/assistant turns."""
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    turns = merge_roles([_message(m) for m in request.messages if m["role"] != "system"])
    body: dict[str, Any] = {"model": request.model_id, "messages": turns, "max_tokens": DEFAULT_MAX_TOKENS}
    if system:
        body["system"] = system
    body.update(request.params)
    body.update(tool_fields(request, body.get("output_config")))
    return body


NO_PARAMETERS = {"type": "object", "properties": {}}  # the API requires an input_schema, even for no arguments
CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def tool_fields(request: Request, output_config: Any = None) -> dict[str, Any]:
    """A suite's tools (`input_schema` is their parameters), tool_choice (`required` is `any`, a named tool is
    `{type: tool, name}`) and response_format: structured outputs, generally available as
    `output_config: {format: {type: json_schema, schema}}` (no beta header), kept beside other output_config."""
    fields: dict[str, Any] = {}
    if request.tools:
        fields["tools"] = [
            {
                **{k: v for k, v in tool.items() if k != "parameters"},
                "input_schema": tool.get("parameters", NO_PARAMETERS),
            }
            for tool in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        fields["tool_choice"] = (
            {"type": "tool", "name": choice["name"]} if isinstance(choice, dict) else CHOICES[choice]
        )
    if isinstance(request.response_format, dict):
        config = dict(output_config) if isinstance(output_config, dict) else {}
        config["format"] = {"type": "json_schema", "schema": request.response_format["json_schema"]}
        fields["output_config"] = config
    return fields


def unsupported(request: Request) -> tuple[str, str] | None:
    """The Messages API has no JSON mode without a schema: structured outputs constrain to a JSON Schema."""
    if request.response_format == "json":
        return (
            "Anthropic's API has no JSON mode without a schema, so response_format: json cannot be sent",
            "give a schema: response_format: {json_schema: schemas/answer.schema.json} (Anthropic's structured "
            "outputs)",
        )
    return None


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
    # provider, with cache reads and writes parts of it (pricing.cost_usd relies on this).
    cache_read, cache_write = raw.get("cache_read_input_tokens"), raw.get("cache_creation_input_tokens")
    details = raw.get("output_tokens_details") if isinstance(raw.get("output_tokens_details"), dict) else {}
    return Usage(
        input_tokens=raw["input_tokens"] + (cache_read or 0) + (cache_write or 0),
        output_tokens=raw.get("output_tokens"),
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=details.get("thinking_tokens"),  # part of output_tokens
    )


class MessageStream:
    """Messages API stream events gathered into a whole Message: `message_start` (model, input usage),
    `content_block_start`/`_delta`/`_stop` (text joined from `text_delta`s; a tool_use's input from its
    `input_json_delta` pieces, joined and then parsed), `message_delta` (stop_reason, output usage) and the last,
    `message_stop`. `ping` is ignored and an `error` event is the call's error."""

    last_event = "message_stop"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.complete = False
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.input_json: dict[int, list[str]] = {}

    def add(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "message_start":
            self.message = dict(event["message"])
        elif kind == "content_block_start":
            block = self.blocks[event["index"]] = dict(event["content_block"])
            return block.get("type") == "tool_use" or bool(block.get("type") == "text" and block.get("text"))
        elif kind == "content_block_delta":
            return self._add_delta(event["index"], event["delta"])
        elif kind == "message_delta":
            self.message.update(event.get("delta") or {})
            # Its usage is cumulative: what it reports replaces message_start's figures (output_tokens above all).
            usage = {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            self.message["usage"] = {**(self.message.get("usage") or {}), **usage}
        elif kind == "message_stop":
            self.complete = True
        elif kind == "error":
            error = event.get("error") or {}
            raise stream_error(self.endpoint, error.get("type") or "error", error.get("message"))
        return False

    def _add_delta(self, index: int, delta: dict[str, Any]) -> bool:
        block = self.blocks.setdefault(index, {})
        if delta.get("type") == "text_delta":
            block["text"] = (block.get("text") or "") + delta["text"]
            return bool(delta["text"])
        if delta.get("type") == "input_json_delta":
            self.input_json.setdefault(index, []).append(delta["partial_json"])
        return False  # thinking and signature deltas are not the answer

    def answer(self) -> dict[str, Any]:
        content = []
        for index, block in sorted(self.blocks.items()):
            pieces = "".join(self.input_json.get(index, []))
            content.append({**block, "input": parse_json_text(pieces)} if pieces else block)
        return {**self.message, "content": content}


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A message of promptguard's own shape (see conversation.py) as the Messages API takes it: an assistant's
    tool calls as `tool_use` blocks, a tool result as a user `tool_result` block answering its call's id."""
    if message["role"] == "tool":
        block = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message["content"]}
        return {"role": "user", "content": [block]}
    if message.get("tool_calls"):
        blocks = [{"type": "text", "text": message["content"]}] if message["content"] else []
        blocks += [
            {"type": "tool_use", "id": t["id"], "name": t["name"], "input": t["arguments"]}
            for t in message["tool_calls"]
        ]
        return {"role": "assistant", "content": blocks}
    return {"role": message["role"], "content": message["content"]}
