"""The call engine: one asyncio loop per process, in a background thread, calling models concurrently.

The plugin submits every selected item's request right after collection; pytest then walks the items in
order and each item waits only for its own calls. A run takes about (calls / concurrency) x latency.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from datetime import datetime, timezone

import httpx

from .providers import Provider, ProviderError
from .results import Call, CallError, Request

DEFAULT_CONCURRENCY = 32


class Scheduler:
    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._slots: asyncio.Semaphore | None = None
        self._submitted: dict[str, list[concurrent.futures.Future[Call]]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, key: str, provider: Provider, request: Request, samples: int = 1) -> None:
        """Start `samples` calls of `request` now (once per key; later submits are no-ops)."""
        if key in self._submitted:
            return
        loop = self._start()
        self._submitted[key] = [
            asyncio.run_coroutine_threadsafe(self._call(provider, request), loop) for _ in range(samples)
        ]

    def calls(self, key: str) -> list[Call]:
        """Wait for the calls submitted under `key`, in submission order."""
        return [future.result() for future in self._submitted.pop(key)]

    def close(self) -> None:
        """Cancel calls not yet answered, close the HTTP clients and stop the loop thread."""
        for futures in self._submitted.values():
            for future in futures:
                future.cancel()
        self._submitted.clear()
        if self._loop is None:
            return
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            assert thread is not None
            thread.join(timeout=10)
            loop.close()

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            # Sync `python` callables run here; sized so they are as concurrent as HTTP calls.
            self._executor = concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix="promptguard-call")
            loop.set_default_executor(self._executor)
            self._thread = threading.Thread(target=loop.run_forever, name="promptguard-scheduler", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    async def _shutdown(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._executor is not None:
            # A timed-out sync callable may still run; never wait for it.
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _client(self, provider: Provider) -> httpx.AsyncClient | None:
        base_url = provider.spec.base_url
        if provider.endpoint is None or base_url is None:
            return None
        if base_url not in self._clients:
            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            self._clients[base_url] = httpx.AsyncClient(limits=limits, follow_redirects=False)
        return self._clients[base_url]

    async def _call(self, provider: Provider, request: Request) -> Call:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        spec = provider.spec
        async with self._slots:
            started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            start = time.perf_counter()
            error: CallError | None = None
            try:
                reply = await asyncio.wait_for(provider.complete(request, self._client(provider)), spec.timeout_s)
            except ProviderError as exc:
                error = exc.to_error()
            except (asyncio.TimeoutError, httpx.TimeoutException):
                error = CallError("timeout", f"no answer from {_where(provider)} within {spec.timeout_s:g} s")
            except httpx.TransportError as exc:
                error = CallError("connection", f"cannot reach {_where(provider)}: {_transport_reason(exc)}")
            latency_ms = (time.perf_counter() - start) * 1000
        base = dict(
            model=spec.name,
            provider=spec.provider,
            model_asked=request.model_id,
            latency_ms=round(latency_ms, 2),
            started_at=started_at,
        )
        if error is not None:
            return Call(**base, error=error)
        return Call(
            **base,
            text=reply.text,
            tool_calls=reply.tool_calls,
            model_served=reply.model_served,
            fingerprint=reply.fingerprint,
            finish_reason=reply.finish_reason,
            usage=reply.usage,
        )


def _where(provider: Provider) -> str:
    return provider.endpoint or provider.spec.callable or provider.spec.name


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"connection refused or failed ({exc})" if str(exc) else "connection refused or failed"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
