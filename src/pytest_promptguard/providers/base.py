"""What every provider shares: the reply it parses, the errors it raises, the protocol it follows."""

from __future__ import annotations

import codecs
import dataclasses
import email.utils
import json
import os
import re
import time
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncGenerator, AsyncIterator, Callable, Protocol, Sequence

import httpx

from ..config import ModelSpec
from ..results import CallError, Request, ToolCall, Usage

MAX_BODY_BYTES = 16 << 20  # an answer larger than this is refused, unread: no model answer comes near it
MAX_ERROR_BODY_BYTES = 64 << 10  # of an error answer, only this much is read (for the server's message)


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
    if not isinstance(vector, list) or not vector or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector
    ):
        raise ProviderError("bad_response", f"{endpoint} answered without an embedding (a list of numbers)")
    return Reply(text=json.dumps(vector), model_served=model_served if isinstance(model_served, str) else None, usage=usage)


def embedding_request_text(request: Request) -> str:
    """The one text an embedding request carries (see scheduler.embedding_request)."""
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


def http_error(response: httpx.Response, endpoint: str, body: bytes | None = None) -> ProviderError:
    """A ProviderError for a non-2xx answer, carrying the server's own message (`body`: the answer's body, when
    it was streamed rather than read whole)."""
    status = response.status_code
    detail = _server_message(response, response.content if body is None else body)
    kind = "auth" if status in (401, 403) else "http"
    retryable = status in (408, 409, 429) or status >= 500
    return ProviderError(
        kind,
        f"HTTP {status} from {endpoint}: {detail}",
        status=status,
        retryable=retryable,
        retry_after_s=retry_after(response.headers),
    )


def redirect_error(response: httpx.Response, endpoint: str) -> ProviderError:
    """A 3xx answer: an API that redirects is misconfigured (or is not the API), and following a redirect would
    resend the request, key included, somewhere else. Not retried: it will not change by itself."""
    location = response.headers.get("location")
    where = f"redirected to {location}" if location else "a redirect without a Location"
    return ProviderError(
        "http",
        f"HTTP {response.status_code} from {endpoint}: {where}; redirects are not followed: "
        "set base_url to the API's own address",
        status=response.status_code,
    )


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _server_message(response: httpx.Response, body: bytes) -> str:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode(response.encoding or "utf-8", errors="replace").strip()
        return (text[:300] + "…") if len(text) > 300 else (text or response.reason_phrase)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    return str(data)[:300]


async def post_json(http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST `body` and return the JSON object answered; ProviderError on an HTTP error, a redirect, or a body
    that is too large, cannot be decoded or is not a JSON object. Never reads more than MAX_BODY_BYTES."""
    async with http.stream("POST", url, json=body, headers=headers) as response:
        status = response.status_code
        await _refuse_failure(response, url)
        try:
            content = await _read_bounded(response, MAX_BODY_BYTES)
        except httpx.DecodingError as exc:
            raise _undecodable(url, status, exc) from None
    if content is None:
        raise _too_large(url, status)
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        # A proxy's HTML page or a cut-off body: worth another try.
        raise ProviderError(
            "bad_response", f"{url} answered HTTP {status} with a body that is not a JSON object",
            status=status, retryable=True,
        )
    return data


async def _refuse_failure(response: httpx.Response, url: str) -> None:
    """ProviderError for a redirect or an HTTP error (with the server's own message, read bounded); nothing for
    a 2xx answer, whose body is then the caller's to read."""
    if 300 <= response.status_code < 400:
        raise redirect_error(response, url)
    if response.status_code >= 400:
        try:
            message = await _read_bounded(response, MAX_ERROR_BODY_BYTES)
        except httpx.DecodingError:
            message = b""  # the status says enough
        raise http_error(response, url, message)


def _undecodable(url: str, status: int, exc: httpx.DecodingError) -> ProviderError:
    # A body whose Content-Encoding lies, as a cut-off or mangled one does: worth another try.
    return ProviderError(
        "bad_response", f"{url} answered HTTP {status} with a body that cannot be decoded ({exc})",
        status=status, retryable=True,
    )


def _too_large(url: str, status: int) -> ProviderError:
    return ProviderError(
        "bad_response",
        f"{url} answered HTTP {status} with a body larger than {MAX_BODY_BYTES >> 20} MiB; "
        f"promptguard reads at most {MAX_BODY_BYTES >> 20} MiB of an answer",
        status=status,
    )


async def _read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """The body, decoded; None once it exceeds `limit` bytes, or an error answer's body cut at the limit (only
    its message matters). Stops reading there: the connection is then closed, not drained."""
    error = response.status_code >= 400
    if not error and _declares_more_than(response, limit):
        return None
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit] if error else None
    return b"".join(chunks)


def _declares_more_than(response: httpx.Response, limit: int) -> bool:
    declared = response.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


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


# Streams: the answer read as it arrives (server-sent events, or Ollama's JSON lines), to time its first token.

DONE = "[DONE]"  # OpenAI's last event, `data: [DONE]`: the one event data that is not JSON
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Error types (Anthropic's `overloaded_error`, OpenAI's `server_error`, Gemini's `UNAVAILABLE`) that pass by themselves.
_PASSING_ERRORS = ("overloaded", "rate_limit", "api_error", "server_error", "timeout", "unavailable", "internal",
                   "resource_exhausted", "deadline")


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
            arrived = time.perf_counter()
            if not isinstance(event, dict) and event is not DONE:
                raise ProviderError(
                    "bad_response", f"{endpoint} sent a stream event that is a {type(event).__name__}, not a JSON object"
                )
            try:
                content = assembler.add(event)
            except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
                raise ProviderError(
                    "bad_response", f"{endpoint} sent a stream event of an unexpected shape ({type(exc).__name__}: {exc})"
                ) from None
            if content and first_token_at is None:
                first_token_at = arrived
    if not assembler.complete:
        raise ProviderError(
            "bad_response", f"{endpoint} ended the stream before its last event ({assembler.last_event}): "
            "the stream was cut off", retryable=True,
        )
    reply = parse_answer(parse, assembler.answer(), endpoint, request)
    return dataclasses.replace(reply, first_token_at=first_token_at)


def stream_error(endpoint: str, name: str, message: Any, status: Any = None) -> ProviderError:
    """An error the server sent inside a stream that began as HTTP 200 (it can no longer change the status).
    Retried when its HTTP twin would be: an overload, a rate limit, a server error, a timeout."""
    if isinstance(status, int) and not isinstance(status, bool):
        retryable = status in (408, 409, 429) or status >= 500
    else:
        retryable = any(word in str(name).lower() for word in _PASSING_ERRORS)
    return ProviderError("stream", f"{endpoint} sent an error event mid-stream: {name}: {message}", retryable=retryable)


def parse_json_text(text: str) -> Any:
    """Tool-call arguments streamed as JSON text in pieces, parsed once whole; a malformed text is kept as it
    is, since a malformed argument list is itself worth checking (as the non-streamed parsers do)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


@asynccontextmanager
async def _open_stream(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    """The answer to a streamed request, its status checked as post_json checks it; closed (not drained) on exit."""
    async with http.stream("POST", url, json=body, headers=headers) as response:
        await _refuse_failure(response, url)
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
    if _declares_more_than(response, MAX_BODY_BYTES):
        raise _too_large(url, status)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    size, partial, after_cr = 0, [], False
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large(url, status)
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
        raise _undecodable(url, status, exc) from None


def _event_data(text: str, url: str, status: int) -> Any:
    if text.strip() == DONE:
        return DONE
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # A proxy's page in place of the stream, or an event cut in two: worth another try.
        raise ProviderError(
            "bad_response", f"{url} answered HTTP {status} with a stream event whose data is not JSON",
            status=status, retryable=True,
        ) from None


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
