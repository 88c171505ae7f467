"""Streams: the answer read as it arrives (server-sent events, or Ollama's JSON lines), to time its first token."""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any, Protocol

import httpx

from ..core.results import Request
from .base import ProviderError, Reply, parse_answer
from .http import MAX_BODY_BYTES, can_heal, declares_more_than, refuse_failure, too_large, undecodable
from .timing import arrived_at

# Streams: the answer read as it arrives (server-sent events, or Ollama's JSON lines), to time its first token.

DONE = "[DONE]"  # OpenAI's last event, `data: [DONE]`: the one event data that is not JSON
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Error types (Anthropic's `overloaded_error`, OpenAI's `server_error`, Gemini's `UNAVAILABLE`) that pass by themselves.
_PASSING_ERRORS = (
    "overloaded",
    "rate_limit",
    "api_error",
    "server_error",
    "timeout",
    "unavailable",
    "internal",
    "resource_exhausted",
    "deadline",
)


class StreamAssembler(Protocol):
    """Gathers a stream's events into the answer the non-streamed API would have given, so that one parser per
    provider makes the Reply of both."""

    complete: bool  # the stream's last event arrived; without it the stream was cut off
    last_event: str  # what that last event is, for the error saying it never came

    def add(self, event: Any) -> bool:
        """Take one event; True when it carried content of the answer (text or a tool call, not thinking).
        Raises ProviderError for an error event."""

    def answer(self) -> dict[str, Any]:
        """Everything gathered, shaped as the non-streamed answer."""


async def stream_events(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> AsyncGenerator[Any, None]:
    """POST `body` and yield the data of each server-sent event as it arrives, parsed as JSON (`[DONE]` as DONE).
    Before the stream, failures are post_json's; in it, a body past MAX_BODY_BYTES or data that is not JSON is a
    ProviderError. Event names, ids and comments are skipped: every provider repeats an event's type in its data."""
    async with _open_stream(http, url, body, headers) as response, aclosing(_lines(response, url)) as lines:
        data: list[str] = []
        async for line in lines:
            if line:
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value[1:] if value.startswith(" ") else value)
            elif data:  # a blank line ends an event
                yield _event_data("\n".join(data), url, response.status_code)
                data = []
        if data:  # whole lines of a last event whose blank line never came: taken, the stream ended cleanly
            yield _event_data("\n".join(data), url, response.status_code)


async def json_lines(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> AsyncGenerator[Any, None]:
    """POST `body` and yield each line of the answer parsed as JSON as it arrives (newline-delimited JSON, as
    Ollama streams), bounded and checked as stream_events is."""
    async with _open_stream(http, url, body, headers) as response, aclosing(_lines(response, url)) as lines:
        async for line in lines:
            if line.strip():
                yield _event_data(line, url, response.status_code)


async def read_stream(
    events: AsyncGenerator[Any, None],
    assembler: StreamAssembler,
    parse: Callable[[dict[str, Any], str, Request], Reply],
    endpoint: str,
    request: Request,
) -> Reply:
    """Feed every event to `assembler`, noting when the first content arrived, then parse the gathered answer
    as the non-streamed one is parsed. A stream that ended before its last event was cut off: worth another try."""
    first_token_at = None
    async with aclosing(events):
        async for event in events:
            arrived = arrived_at()  # when its bytes arrived, as the transport stamped them
            if not isinstance(event, dict) and event is not DONE:
                raise ProviderError(
                    "bad_response",
                    f"{endpoint} sent a stream event that is a {type(event).__name__}, not a JSON object",
                )
            try:
                content = assembler.add(event)
            except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
                raise ProviderError(
                    "bad_response",
                    f"{endpoint} sent a stream event of an unexpected shape ({type(exc).__name__}: {exc})",
                ) from None
            if content and first_token_at is None:
                first_token_at = arrived
    if not assembler.complete:
        raise ProviderError(
            "bad_response",
            f"{endpoint} ended the stream before its last event ({assembler.last_event}): the stream was cut off",
            retryable=True,
        )
    reply = parse_answer(parse, assembler.answer(), endpoint, request)
    return dataclasses.replace(reply, first_token_at=first_token_at)


def stream_error(endpoint: str, name: str, message: Any, status: Any = None) -> ProviderError:
    """An error the server sent inside a stream that began as HTTP 200 (it can no longer change the status).
    Retried when its HTTP twin would be: an overload, a rate limit, a server error, a timeout."""
    if isinstance(status, int) and not isinstance(status, bool):
        retryable = can_heal(status)
    else:
        retryable = any(word in str(name).lower() for word in _PASSING_ERRORS)
    return ProviderError("stream", f"{endpoint} sent an error event mid-stream: {name}: {message}", retryable=retryable)


@asynccontextmanager
async def _open_stream(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    """The answer to a streamed request, its status checked as post_json checks it; closed (not drained) on exit."""
    async with http.stream("POST", url, json=body, headers=headers) as response:
        await refuse_failure(response, url)
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/json":
            raise ProviderError(
                "bad_response",
                f"{url} answered HTTP {response.status_code} with one JSON body, not a stream: it does not stream "
                "this request; remove 'stream: true' from the model in promptguard.yaml",
                status=response.status_code,
            )
        yield response


async def _lines(response: httpx.Response, url: str) -> AsyncGenerator[str, None]:
    """The body's lines as they arrive, decoded as UTF-8 and split at CRLF, LF or CR as SSE allows (never at the
    other breaks str.splitlines knows, which JSON strings may hold raw). Reads at most MAX_BODY_BYTES. A last
    line without its line break was cut, and is dropped."""
    status = response.status_code
    if declares_more_than(response, MAX_BODY_BYTES):
        raise too_large(url, status)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    size, partial, after_cr = 0, [], False
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_large(url, status)
            text = decoder.decode(chunk)
            if after_cr and text.startswith("\n"):  # the LF of a CRLF split between two chunks
                text, after_cr = text[1:], False
            if not text:
                continue
            after_cr = text.endswith("\r")
            *whole, rest = _LINE_BREAK.split(text)
            if whole:
                whole[0] = "".join(partial) + whole[0]
                partial = []
                for line in whole:
                    yield line
            if rest:
                partial.append(rest)
    except httpx.DecodingError as exc:
        raise undecodable(url, status, exc) from None


def _event_data(text: str, url: str, status: int) -> Any:
    if text.strip() == DONE:
        return DONE
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # A proxy's page in place of the stream, or an event cut in two: worth another try.
        raise ProviderError(
            "bad_response",
            f"{url} answered HTTP {status} with a stream event whose data is not JSON",
            status=status,
            retryable=True,
        ) from None
