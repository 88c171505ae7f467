"""What every provider shares: the reply it parses, the errors it raises, the protocol it follows."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ..config.loader import ModelSpec
from ..core.results import CallError, Request, ToolCall, Usage


@dataclass(frozen=True)
class Reply:
    """A provider's answer mapped from its wire format; the scheduler adds timing and attempts."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    model_served: str | None = None
    fingerprint: str | None = None
    finish_reason: str | None = None
    usage: Usage = Usage()
    cost_usd: float | None = None  # a cost the provider reports itself (a `python` callable may)
    first_token_at: float | None = None  # time.perf_counter() when a streamed answer's first content arrived
    # (the transport's stamp: providers/timing.py)


class ProviderError(Exception):
    """A call that produced no usable answer. `retryable` tells the scheduler whether to try again."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s

    def to_error(self) -> CallError:
        return CallError(kind=self.kind, message=self.message, status=self.status)


class Provider(Protocol):
    spec: ModelSpec

    @property
    def endpoint(self) -> str | None:
        """Where calls go, safe to print (no key); None for in-process providers."""

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        """Send one request and map the answer; raise ProviderError on failure."""


def embedding_reply(vector: Any, endpoint: str, usage: Usage, model_served: Any = None) -> Reply:
    """An embedding as a Reply: its text is the vector as JSON (so the response cache and replay keep it as they
    keep any answer). A vector that is not a non-empty list of numbers is a bad response."""
    if (
        not isinstance(vector, list)
        or not vector
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector)
    ):
        raise ProviderError("bad_response", f"{endpoint} answered without an embedding (a list of numbers)")
    return Reply(
        text=json.dumps(vector), model_served=model_served if isinstance(model_served, str) else None, usage=usage
    )


def embedding_request_text(request: Request) -> str:
    """The one text an embedding request carries (see call/embeddings.embedding_request)."""
    return str(request.messages[0]["content"])


def api_key(spec: ModelSpec) -> str | None:
    """The key from `api_key_env`, read now (never stored); a clear error when it is missing."""
    if not spec.api_key_env:
        return None
    key = os.environ.get(spec.api_key_env)
    if not key:
        raise ProviderError(
            "config",
            f"model '{spec.name}': environment variable {spec.api_key_env} is not set; "
            f"export it to call {spec.provider}",
        )
    return key


_URL_SECRETS = re.compile(r"(https?://)(?:[^/\s@]+@)?([^\s?#]+)(\?[^\s#]*[^\s#:,;.)])?")


def redact(text: str, spec: ModelSpec) -> str:
    """`text` fit to show: without the model's key (should a server echo the request back), and with URLs
    stripped of credentials and query strings, where keys travel (`?key=...`)."""
    key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    if key:
        text = text.replace(key, "[redacted]")
    return _URL_SECRETS.sub(lambda m: m.group(1) + m.group(2) + ("?…" if m.group(3) else ""), text)


def estimate_tokens(text: str) -> int:
    """About four characters a token: good enough to budget when a server reports no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


def estimated_usage(messages: Sequence[dict[str, Any]], text: str) -> Usage:
    prompt = "".join(str(m.get("content", "")) for m in messages)
    return Usage(input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(text), estimated=True)


def parse_answer(
    parse: Callable[[dict[str, Any], str, Request], Reply], data: dict[str, Any], endpoint: str, request: Request
) -> Reply:
    """`parse(data, endpoint, request)`, with JSON of an unexpected shape (a string where an object belongs, a
    list where text belongs) a clean ProviderError rather than a crash. Not retried: the server means it."""
    try:
        reply = parse(data, endpoint, request)
    except ProviderError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProviderError(
            "bad_response", f"{endpoint} answered JSON of an unexpected shape ({type(exc).__name__}: {exc})"
        ) from None
    problem = _shape_problem(reply)
    if problem:
        raise ProviderError("bad_response", f"{endpoint} answered JSON of an unexpected shape: {problem}")
    return reply


def _shape_problem(reply: Reply) -> str | None:
    if not isinstance(reply.text, str):
        return f"its text is a {type(reply.text).__name__}, not a string"
    usage = reply.usage
    for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
        value = getattr(usage, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return f"its token count {name} is {value!r}, not a number"
    return None


def parse_json_text(text: str) -> Any:
    """Tool-call arguments streamed as JSON text in pieces, parsed once whole; a malformed text is kept as it
    is, since a malformed argument list is itself worth checking (as the non-streamed parsers do)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def merge_roles(messages: list[dict[str, Any]], key: str = "content") -> list[dict[str, Any]]:
    """Consecutive messages of one role joined into one, as APIs that insist on alternating turns need (parallel
    tool results are one user message of several result blocks)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            previous = merged[-1]
            previous[key] = _blocks(previous[key]) + _blocks(message[key])
        else:
            merged.append(dict(message))
    return merged


def _blocks(content: Any) -> list[Any]:
    return list(content) if isinstance(content, list) else [{"type": "text", "text": content}]
