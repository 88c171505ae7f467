"""What every provider shares: the reply it parses, the errors it raises, the protocol it follows."""

from __future__ import annotations

import email.utils
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, Sequence

import httpx

from ..config import ModelSpec
from ..results import CallError, Request, ToolCall, Usage


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


def redact(text: str, spec: ModelSpec) -> str:
    """`text` without the model's key, should a server echo the request back in an error message."""
    key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    return text.replace(key, "[redacted]") if key else text


def estimate_tokens(text: str) -> int:
    """About four characters a token: good enough to budget when a server reports no usage."""
    return max(1, (len(text) + 3) // 4) if text else 0


def estimated_usage(messages: Sequence[dict[str, Any]], text: str) -> Usage:
    prompt = "".join(str(m.get("content", "")) for m in messages)
    return Usage(input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(text), estimated=True)


def http_error(response: httpx.Response, endpoint: str) -> ProviderError:
    """A ProviderError for a non-2xx answer, carrying the server's own message."""
    status = response.status_code
    detail = _server_message(response)
    kind = "auth" if status in (401, 403) else "http"
    retryable = status in (408, 409, 429) or status >= 500
    return ProviderError(
        kind,
        f"HTTP {status} from {endpoint}: {detail}",
        status=status,
        retryable=retryable,
        retry_after_s=retry_after(response.headers),
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


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:300] + "…") if len(text) > 300 else (text or response.reason_phrase)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(error, str):
        return error[:500]
    return str(body)[:300]


async def post_json(http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST `body` and return the JSON object answered; ProviderError on an HTTP error or a body that is not one."""
    response = await http.post(url, json=body, headers=headers)
    if response.status_code >= 400:
        raise http_error(response, url)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # A proxy's HTML page or a cut-off body: worth another try.
        raise ProviderError(
            "bad_response", f"{url} answered HTTP {response.status_code} with a body that is not a JSON object",
            status=response.status_code, retryable=True,
        )
    return data
