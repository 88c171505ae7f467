"""The transports under the providers' httpx clients: aiohttp's connections (the default) or httpx's own.

httpx stays the providers' API; what carries its requests is chosen per model (`transport:` in promptguard.yaml).
aiohttp is the default because it costs far less CPU a request (benchmarks/bench_transport.py; docs/speed.md), and
because its sockets can be ours (wiresocket.py), so latency is stamped where the bytes cross. Both transports
behave alike for the scheduler: no timeouts of their own (asyncio bounds each attempt whole), redirects not
followed, bodies decoded by httpx (a lying Content-Encoding is httpx.DecodingError), failures as httpx errors.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections.abc import AsyncIterator
from json import dumps
from typing import Any
from urllib.request import getproxies

import aiohttp
import httpx
from yarl import URL

from ..providers.timing import TIMING, Timing
from .wiresocket import timed_socket

AIOHTTP, HTTPX = "aiohttp", "httpx"
TRANSPORTS = (AIOHTTP, HTTPX)


def client(transport: str, base_url: str, connections: int) -> httpx.AsyncClient:
    """The client of one base_url: at most `connections` open, kept alive between calls. No httpx timeouts (its
    default is 5 s between bytes): each attempt is bounded, whole, by timeout_s. Redirects are not followed: the
    provider reports them (see providers.http.redirect_error)."""
    if transport == AIOHTTP:
        return LeanClient(AiohttpTransport(connections, tls=base_url.startswith("https:")))
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        verify=tls_context(),
        timeout=None,
        follow_redirects=False,
        event_hooks={"request": [_stamp_sent], "response": [_stamp_received]},
    )


class LeanClient(httpx.AsyncClient):
    """An httpx client whose `stream()`, what the providers call, hands the request straight to aiohttp: building an
    httpx Request and the full client's work around sending it (auth flows, the cookie jar, redirects, event
    hooks, proxy mounts) cost more CPU than the HTTP itself, and the providers need none of it (keys travel in
    headers, redirects are refused, aiohttp reads the proxy variables itself). A call of another shape, or to a
    URL with credentials in it (Basic auth), takes httpx's full path, over the same transport."""

    def __init__(self, transport: AiohttpTransport) -> None:
        super().__init__(transport=transport, timeout=None, follow_redirects=False, trust_env=False)
        self._wire = transport
        # What httpx sends by default: Accept, Accept-Encoding (the encodings httpx decodes), Connection, User-Agent.
        self._defaults = {name.lower(): value for name, value in self.headers.items()}
        self._lean: dict[str, bool] = {}  # per URL: no credentials in it

    @contextlib.asynccontextmanager
    async def stream(  # type: ignore[override]
        self, method: str, url: httpx.URL | str, *, json: Any = None, headers: Any = None, **options: Any
    ) -> AsyncIterator[httpx.Response]:
        if not isinstance(url, str) or not self._is_lean(url) or any(_given(v) for v in options.values()):
            async with super().stream(method, url, json=json, headers=headers, **options) as response:
                yield response
            return
        merged = dict(self._defaults)
        body = None
        if json is not None:  # encoded as httpx encodes it
            body = dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
            merged["content-type"] = "application/json"
        for name, value in (headers or {}).items():
            merged[name.lower()] = value
        response = await self._wire.exchange(method, url, merged, body)
        try:
            yield response
        finally:
            await response.aclose()

    def _is_lean(self, url: str) -> bool:
        if url not in self._lean:
            self._lean[url] = not httpx.URL(url).userinfo
        return self._lean[url]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificates as httpx checks them (certifi's, or SSL_CERT_FILE / SSL_CERT_DIR), for every client of the
    process: making the context reads the certificates, tens of milliseconds."""
    return httpx.create_ssl_context()


def _given(option: Any) -> bool:
    return option is not None and option is not httpx.USE_CLIENT_DEFAULT


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent by an aiohttp session: its pool, its HTTP parser, our sockets."""

    def __init__(self, connections: int, tls: bool = False) -> None:
        self.connections = connections
        self.tls = tls
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.connections, ssl=tls_context() if self.tls else True, socket_factory=timed_socket
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes
            trust_env=bool(getproxies()),  # HTTP(S)_PROXY and NO_PROXY, as httpx honours them (read once)
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.userinfo:  # httpx has made them an Authorization header already, as it does for its own transport
            url = url.copy_with(username=None, password=None)
        return await self.exchange(request.method, str(url), request.headers.multi_items(), request.content or None)

    async def exchange(self, method: str, url: str, headers: Any, body: bytes | None) -> httpx.Response:
        """One request: its answer's head read, its body left to read (and the answer to close)."""
        session = self._session or self._open()
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = URL(url, encoded=True)  # as httpx quoted it, parsed once per endpoint
        try:
            response = await session.request(method, parsed, headers=headers, data=body, allow_redirects=False)
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc) from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for data in self.response.content.iter_any():
                yield data
        except aiohttp.ClientPayloadError as exc:
            timing = TIMING.get()
            if timing is not None and timing.broken_by is not None:  # a reset, not a server that stopped short
                raise httpx.ReadError(str(timing.broken_by)) from exc
            raise _httpx_error(exc) from exc
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc) from exc

    async def aclose(self) -> None:
        # A body read whole frees its connection for the next call; one left unread (refused as too large, or
        # a call cancelled) closes it rather than draining it.
        if self.response.content.is_eof():
            self.response.release()
        else:
            self.response.close()


def _httpx_error(exc: aiohttp.ClientError) -> httpx.TransportError | httpx.InvalidURL:
    """aiohttp's error as the httpx error that says the same, in the words httpx (h11) uses for it."""
    if isinstance(exc, aiohttp.NonHttpUrlClientError):  # never sent: retrying cannot heal it (http.can_heal)
        return httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol: {exc}")
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.InvalidURL(str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc.os_error or exc))
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body ({_said(exc.__cause__ or exc)})"
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(str(exc))
    if isinstance(exc, aiohttp.ClientResponseError):  # an answer that breaks HTTP: a bad status line or head
        return httpx.RemoteProtocolError(_said(exc.__cause__ or exc))
    return httpx.TransportError(f"{type(exc).__name__}: {exc}")


def _said(exc: BaseException) -> str:
    """An aiohttp parser error's message on one line, without the caret it draws under the bad byte."""
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(word for word in str(message).split() if word != "^")


async def _stamp_sent(request: httpx.Request) -> None:
    """httpx's own transport, stamped as closely as its event hooks allow: before the request is handed to it (a
    connection it opens included), and as each piece of the body is read."""
    timing = TIMING.get()
    if timing is not None:
        timing.sent_at = time.perf_counter()


async def _stamp_received(response: httpx.Response) -> None:
    timing = TIMING.get()
    if timing is not None:
        timing.received_at = time.perf_counter()
        response.stream = _StampedBody(response.stream, timing)  # type: ignore[arg-type]


class _StampedBody(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, timing: Timing) -> None:
        self.stream, self.timing = stream, timing

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for data in self.stream:
            self.timing.received_at = time.perf_counter()
            yield data

    async def aclose(self) -> None:
        await self.stream.aclose()
