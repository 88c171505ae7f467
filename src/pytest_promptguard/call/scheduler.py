"""The call engine: one asyncio loop per process, in a background thread, calling models concurrently.

The plugin submits every selected item's calls right after collection; pytest then walks the items in
order and each item waits only for its own calls. A run takes about (calls / concurrency) x latency.
Here live the rules every call obeys: concurrency limits (global and per model), rate limits, retries with
backoff and `Retry-After`, per-attempt and per-call time bounds, cost budgets, and the response cache.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import random
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx

from ..config.pricetable import load as load_prices
from ..core.results import Call, CallError, Request
from ..core.wording import usd
from ..providers import Provider, ProviderError, Reply
from ..providers.base import estimate_tokens, redact
from ..providers.http import can_heal
from ..providers.timing import TIMING, Timing
from .cache import ResponseCache
from .conversation import converse
from .costs import Costs
from .embeddings import Embedder, embedding_request
from .limits import RateLimiter

T = TypeVar("T")
BACKOFF_BASE_S = 0.5
DEFAULT_OUTPUT_TOKENS = 256  # booked against a tokens-per-minute limit when a request sets no max_tokens


@dataclass
class Budget:
    """Money a run or a suite may spend; once spent, no new call is sent."""

    limit_usd: float
    label: str  # how the user set it, for the error message
    spent_usd: float = 0.0

    @property
    def exhausted(self) -> bool:
        return self.spent_usd >= self.limit_usd


@dataclass
class _Attempts:
    count: int = 0
    last_error: CallError | None = None


@dataclass(frozen=True)
class _Outcome:
    """How one attempt ended: a reply, or an error and whether (and when) to try again."""

    reply: Reply | None
    error: CallError | None
    retryable: bool
    retry_after_s: float | None
    latency_ms: float
    ttft_ms: float | None = None  # when the reply was streamed and some content came


@dataclass
class _ModelLimits:
    slots: asyncio.Semaphore
    rate: RateLimiter | None


class Scheduler:
    def __init__(self, concurrency: int, cache: ResponseCache | None = None) -> None:
        self.concurrency = concurrency
        self.cache = cache
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}
        self._slots: asyncio.Semaphore | None = None
        self._models: dict[int, _ModelLimits] = {}
        self._submitted: dict[str, list[concurrent.futures.Future[Call]]] = {}
        self._embedders: dict[int, Embedder] = {}
        self._costs = Costs()

    def submit(
        self,
        key: str,
        provider: Provider,
        request: Request,
        samples: int = 1,
        budgets: tuple[Budget, ...] = (),
        first: int = 0,
    ) -> None:
        """Start `samples` calls of `request` now, numbered from `first` (once per key; later submits are no-ops)."""
        if key in self._submitted:
            return
        loop = self._start()
        self._submitted[key] = [
            asyncio.run_coroutine_threadsafe(self._call(provider, request, sample, budgets), loop)
            for sample in range(first, first + samples)
        ]

    def ask(self, provider: Provider, request: Request, budgets: tuple[Budget, ...] = ()) -> Call:
        """One call, waited for now: what a check asks of a model mid-item (a grader), under the same rules as every
        call (concurrency, rate limits, retries, timeouts, budgets, price, response cache)."""
        loop = self._start()
        return asyncio.run_coroutine_threadsafe(self._reply(provider, request, 0, budgets), loop).result()

    def embed(self, provider: Provider, texts: list[str], budgets: tuple[Budget, ...] = ()) -> list[Call]:
        """Each text embedded by `provider`'s embedding endpoint: one request a text, sent concurrently and cached
        by model and text like any answer. A call's `text` is the vector, as JSON."""
        embedder = self._embedders.get(id(provider))
        if embedder is None:
            embedder = self._embedders[id(provider)] = Embedder(provider)
        loop = self._start()
        futures = [
            asyncio.run_coroutine_threadsafe(
                self._reply(embedder, embedding_request(provider.spec, text), 0, budgets), loop
            )
            for text in texts
        ]
        return [future.result() for future in futures]

    def calls(self, key: str) -> list[Call]:
        """Wait for the calls submitted under `key`, in sample order."""
        return [future.result() for future in self._submitted.pop(key)]

    def close(self) -> None:
        """Cancel calls not yet answered, close the HTTP clients and stop the loop thread."""
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
            # Read the price snapshot (~15 ms) before the first call is sent: read later, on the loop's thread and
            # holding the GIL, it would hold up the timestamps of the calls in flight.
            load_prices()
            loop = asyncio.new_event_loop()
            # Sync `python` callables run here; sized so they are as concurrent as HTTP calls.
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self.concurrency, thread_name_prefix="promptguard-call"
            )
            loop.set_default_executor(self._executor)
            self._thread = threading.Thread(target=loop.run_forever, name="promptguard-scheduler", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    async def _shutdown(self) -> None:
        # Every call is cancelled here, in one step of the loop: cancelled one by one from another thread, a call in
        # flight could end (freeing its model's slot) before a waiting call's cancel arrived, which would then send.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for http in self._clients.values():
            await http.aclose()
        self._clients.clear()
        if self._executor is not None:
            # A timed-out sync callable may still run; never wait for it.
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _client(self, provider: Provider) -> httpx.AsyncClient | None:
        """The client of the provider's base_url and transport, made once: its pool holds as many connections as
        calls may be in flight."""
        spec = provider.spec
        if provider.endpoint is None or spec.base_url is None:
            return None
        key = (spec.base_url, spec.transport)
        if key not in self._clients:
            # Imported with the first client: aiohttp takes ~0.1 s to import, which a run that sends nothing
            # (--collect-only, a dry run, a replay, a `python` model) never pays.
            from .transport import client

            self._clients[key] = client(spec.transport, spec.base_url, self.concurrency)
        return self._clients[key]

    def _limits(self, provider: Provider) -> _ModelLimits:
        spec = provider.spec
        if id(provider) not in self._models:
            rate = RateLimiter(spec.rpm, spec.tpm) if (spec.rpm or spec.tpm) else None
            self._models[id(provider)] = _ModelLimits(asyncio.Semaphore(spec.max_concurrency), rate)
        return self._models[id(provider)]

    async def _call(self, provider: Provider, request: Request, sample: int, budgets: tuple[Budget, ...]) -> Call:
        if request.turns:
            return await converse(request, lambda turn: self._reply(provider, turn, sample, budgets))
        return await self._reply(provider, request, sample, budgets)

    async def _reply(self, provider: Provider, request: Request, sample: int, budgets: tuple[Budget, ...]) -> Call:
        """One model reply: from the cache, or live."""
        base_url = provider.spec.base_url
        if self.cache is not None and (cached := self.cache.get(request, base_url, sample)) is not None:
            return cached
        call = await self._live(provider, request, budgets)
        if self.cache is not None and call.error is None:
            self.cache.put(request, base_url, sample, call)
        return call

    async def _live(self, provider: Provider, request: Request, budgets: tuple[Budget, ...]) -> Call:
        spec = provider.spec
        attempts = _Attempts()
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        record = dict(model=spec.name, provider=spec.provider, model_asked=request.model_id, started_at=started_at)
        try:
            done = self._attempt_until_done(provider, request, budgets, attempts, record)
            return await _within(spec.total_timeout_s, done)
        except asyncio.TimeoutError:
            last = f"; last error: {attempts.last_error.message}" if attempts.last_error else ""
            error = CallError(
                "timeout",
                f"gave up after {attempts.count} attempt(s) within {spec.total_timeout_s:g} s{last}",
                transient=True,
            )
            return Call(**record, attempts=attempts.count, error=error)

    async def _attempt_until_done(
        self,
        provider: Provider,
        request: Request,
        budgets: tuple[Budget, ...],
        attempts: _Attempts,
        record: dict[str, Any],
    ) -> Call:
        spec = provider.spec
        limits = self._limits(provider)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        booked_tokens = _estimated_request_tokens(request) if limits.rate else 0
        while True:
            booking = await limits.rate.acquire(booked_tokens) if limits.rate else None
            async with limits.slots, self._slots:
                # Checked once a slot is ours, so calls queued behind the limit see what was spent before them.
                exhausted = next((b for b in budgets if b.exhausted), None)
                if exhausted is not None:
                    return Call(**record, attempts=attempts.count, error=_budget_error(exhausted))
                attempts.count += 1
                outcome = await self._attempt(provider, request)
            if outcome.reply is not None:
                reply = outcome.reply
                if booking is not None:
                    RateLimiter.settle(booking, (reply.usage.input_tokens or 0) + (reply.usage.output_tokens or 0))
                cost, source, priced_as = self._costs.of(reply, request, spec)
                for budget in budgets:
                    budget.spent_usd += cost or 0.0
                return Call(
                    **record,
                    text=reply.text,
                    tool_calls=reply.tool_calls,
                    model_served=reply.model_served,
                    fingerprint=reply.fingerprint,
                    finish_reason=reply.finish_reason,
                    latency_ms=outcome.latency_ms,
                    ttft_ms=outcome.ttft_ms,
                    usage=reply.usage,
                    cost_usd=cost,
                    price_source=source,
                    priced_as=priced_as,
                    attempts=attempts.count,
                )
            assert outcome.error is not None
            error = dataclasses.replace(outcome.error, message=redact(outcome.error.message, spec))
            attempts.last_error = error
            if not outcome.retryable or attempts.count > spec.retries:
                error = dataclasses.replace(error, transient=outcome.retryable)
                return Call(**record, latency_ms=outcome.latency_ms, attempts=attempts.count, error=error)
            await asyncio.sleep(_backoff_s(attempts.count, outcome.retry_after_s, spec.max_backoff_s))

    async def _attempt(self, provider: Provider, request: Request) -> _Outcome:
        """One request, timed, bounded by `timeout_s`; every failure becomes an error saying whether to retry.
        The transport stamps when the request left and its answer arrived (providers/timing.py): the latency is
        between those, not around our own work; a call without stamps (a `python` callable) is timed here."""
        where, timeout_s = _where(provider), provider.spec.timeout_s
        timing = Timing()
        TIMING.set(timing)  # this task's context: seen by the transport and the stream reader of this attempt
        start = time.perf_counter()
        reply, error, retryable, retry_after_s = None, None, True, None
        try:
            reply = await _within(timeout_s, provider.complete(request, self._client(provider)))
        except ProviderError as exc:
            error, retryable, retry_after_s = exc.to_error(), exc.retryable, exc.retry_after_s
        except (asyncio.TimeoutError, httpx.TimeoutException):
            error = CallError("timeout", f"no answer from {where} within {timeout_s:g} s")
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            retryable = can_heal(exc)
            error = CallError("connection" if retryable else "config", _transport_message(where, exc))
        except Exception as exc:  # noqa: BLE001 - a bug of ours must cost one item, not the run
            error = CallError(
                "internal", f"calling {where} raised {type(exc).__name__}: {exc} (a promptguard bug: please report it)"
            )
            retryable = False
        end = time.perf_counter()
        if reply is not None and timing.sent_at is not None and timing.received_at is not None:
            start, end = timing.sent_at, timing.received_at
        latency_ms = round((end - start) * 1000, 2)
        first_token_at = reply.first_token_at if reply is not None else None
        ttft_ms = round((first_token_at - start) * 1000, 2) if first_token_at is not None else None
        return _Outcome(reply, error, retryable, retry_after_s, latency_ms, ttft_ms)


async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`, cancelled after `seconds` (TimeoutError): in this very task where Python has asyncio.timeout
    (3.11), since a task of its own, as wait_for makes, costs the loop more than a call's own bookkeeping."""
    if _timeout is None:
        return await asyncio.wait_for(awaitable, seconds)
    async with _timeout(seconds):
        return await awaitable


_timeout = getattr(asyncio, "timeout", None)


def _budget_error(budget: Budget) -> CallError:
    return CallError(
        "budget",
        f"budget exhausted: {usd(budget.spent_usd)} spent of ${budget.limit_usd:g} ({budget.label}); no call sent",
    )


def _backoff_s(attempt: int, retry_after_s: float | None, cap_s: float) -> float:
    """The server's `Retry-After` when given, else exponential backoff with jitter; never above the cap."""
    if retry_after_s is not None:
        return min(retry_after_s, cap_s)
    return min(BACKOFF_BASE_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0), cap_s)


def _estimated_request_tokens(request: Request) -> int:
    prompt = estimate_tokens("".join(str(m.get("content", "")) for m in request.messages))
    output = request.params.get("max_tokens") or request.params.get("max_completion_tokens") or DEFAULT_OUTPUT_TOKENS
    return prompt + int(output)


def _where(provider: Provider) -> str:
    return provider.endpoint or provider.spec.callable or provider.spec.name


def _transport_message(where: str, exc: httpx.TransportError | httpx.InvalidURL) -> str:
    """What broke, said plainly: a request that cannot be sent, no connection at all, a connection cut, or an
    answer that broke HTTP."""
    if not can_heal(exc):
        return f"cannot send a request to {where}: {_cause(exc)} (not retried: correct the model's base_url)"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach {where}: connection refused or failed" + (f" ({exc})" if str(exc) else "")
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} answered with broken HTTP: {exc}"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return f"the connection to {where} broke: {_cause(exc)}"
    return f"the connection to {where} failed: {_cause(exc)}"


def _cause(exc: BaseException) -> str:
    """`Type: message`, with the OS error under an httpx error when it has no message of its own
    (a reset reads `ReadError: [Errno 104] Connection reset by peer`)."""
    text = str(exc)
    if not text:
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not str(cause):
            cause = cause.__cause__ or cause.__context__
        text = str(cause) if cause is not None else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
