"""What every provider shares: the reply it parses, the errors it raises, the protocol it follows."""

from __future__ import annotations

import email.utils
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, Sequence

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
        if 300 <= status < 400:
            raise redirect_error(response, url)
        if status >= 400:
            try:
                message = await _read_bounded(response, MAX_ERROR_BODY_BYTES)
            except httpx.DecodingError:
                message = b""  # the status says enough
            raise http_error(response, url, message)
        try:
            content = await _read_bounded(response, MAX_BODY_BYTES)
        except httpx.DecodingError as exc:
            # A body whose Content-Encoding lies, as a cut-off or mangled one does: worth another try.
            raise ProviderError(
                "bad_response", f"{url} answered HTTP {status} with a body that cannot be decoded ({exc})",
                status=status, retryable=True,
            ) from None
    if content is None:
        raise ProviderError(
            "bad_response",
            f"{url} answered HTTP {status} with a body larger than {MAX_BODY_BYTES >> 20} MiB; "
            f"promptguard reads at most {MAX_BODY_BYTES >> 20} MiB of an answer",
            status=status,
        )
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


async def _read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """The body, decoded; None once it exceeds `limit` bytes, or an error answer's body cut at the limit (only
    its message matters). Stops reading there: the connection is then closed, not drained."""
    error = response.status_code >= 400
    declared = response.headers.get("content-length", "")
    if not error and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit] if error else None
    return b"".join(chunks)


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
