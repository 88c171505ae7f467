"""Asking over HTTP: one JSON answer, read bounded, every failure a ProviderError saying whether to retry."""

from __future__ import annotations

import email.utils
import json
from datetime import datetime, timezone
from typing import Any

import httpx

from .base import ProviderError

MAX_BODY_BYTES = 16 << 20  # an answer larger than this is refused, unread: no model answer comes near it
MAX_ERROR_BODY_BYTES = 64 << 10  # of an error answer, only this much is read (for the server's message)


HEALING_4XX = (408, 409, 429)  # timeout, conflict, rate limit: the only client errors that pass by themselves
# Requests that cannot leave (a URL httpx cannot send to): trying again sends the same thing to the same nowhere.
_NEVER_HEALS = (httpx.UnsupportedProtocol, httpx.InvalidURL)


def can_heal(failure: int | BaseException) -> bool:
    """Whether trying again may succeed: the one rule of what the scheduler retries. An HTTP status heals when it
    is a 5xx or one of HEALING_4XX (never another 4xx: the request itself is wrong); a transport failure heals
    unless the request could not be sent at all (unsupported protocol, invalid URL)."""
    if isinstance(failure, int):
        return failure in HEALING_4XX or failure >= 500
    return not isinstance(failure, _NEVER_HEALS)


def http_error(response: httpx.Response, endpoint: str, body: bytes | None = None) -> ProviderError:
    """A ProviderError for a non-2xx answer, carrying the server's own message (`body`: the answer's body, when
    it was streamed rather than read whole)."""
    status = response.status_code
    detail = _server_message(response, response.content if body is None else body)
    kind = "auth" if status in (401, 403) else "http"
    retryable = can_heal(status)
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
        await refuse_failure(response, url)
        try:
            content = await _read_bounded(response, MAX_BODY_BYTES)
        except httpx.DecodingError as exc:
            raise undecodable(url, status, exc) from None
    if content is None:
        raise too_large(url, status)
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        # A proxy's HTML page or a cut-off body: worth another try.
        raise ProviderError(
            "bad_response",
            f"{url} answered HTTP {status} with a body that is not a JSON object",
            status=status,
            retryable=True,
        )
    return data


async def refuse_failure(response: httpx.Response, url: str) -> None:
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


def undecodable(url: str, status: int, exc: httpx.DecodingError) -> ProviderError:
    # A body whose Content-Encoding lies, as a cut-off or mangled one does: worth another try.
    return ProviderError(
        "bad_response",
        f"{url} answered HTTP {status} with a body that cannot be decoded ({exc})",
        status=status,
        retryable=True,
    )


def too_large(url: str, status: int) -> ProviderError:
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
    if not error and declares_more_than(response, limit):
        return None
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit] if error else None
    return b"".join(chunks)


def declares_more_than(response: httpx.Response, limit: int) -> bool:
    declared = response.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit
