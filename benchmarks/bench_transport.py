"""CPU per request of each way to send promptguard's calls, alone (no pytest, no promptguard scheduler).

A local keep-alive server in its own process (tests/timed_server.py) answers at once; the client POSTs a small
chat request and reads and parses the JSON answer, C requests in flight, and the process's CPU time (user + sys,
all threads) is divided by the requests sent. The ways:

- httpx:           httpx.AsyncClient with its default transport (httpcore)
- httpx-aiohttp:   httpx.AsyncClient over the `httpx-aiohttp` package's AiohttpTransport
- promptguard:     what the scheduler uses: an httpx client that hands requests straight to promptguard's own aiohttp
                   transport (call/transport.py)
- aiohttp:         aiohttp.ClientSession alone (the floor: what an httpx front costs on top)

    python benchmarks/bench_transport.py                  # 3000 requests, C=16 and C=64, median of 5 rounds
    python benchmarks/bench_transport.py -n 5000 -r 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

sys.path[:0] = [str(Path(__file__).parents[1]), str(Path(__file__).parents[1] / "src")]

from pytest_promptguard.call.transport import client  # noqa: E402
from tests.timed_server import TimedServer  # noqa: E402

BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "question 1"}], "temperature": 0}
Send = Callable[[], Awaitable[dict]]


def limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


def httpx_way(url: str, http: httpx.AsyncClient):
    async def send() -> dict:
        async with http.stream("POST", url, json=BODY) as response:
            return json.loads(await response.aread())

    return send, http.aclose


def aiohttp_way(url: str, concurrency: int):
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def send() -> dict:
        async with session.post(url, json=BODY) as response:
            return json.loads(await response.read())

    return send, session.close


def make(way: str, url: str, concurrency: int):
    if way == "httpx":
        return httpx_way(url, httpx.AsyncClient(limits=limits(concurrency), timeout=None))
    if way == "httpx-aiohttp":
        import httpx_aiohttp

        transport = httpx_aiohttp.AiohttpTransport(limits=limits(concurrency))
        return httpx_way(url, httpx.AsyncClient(transport=transport, timeout=None))
    if way == "promptguard":
        return httpx_way(url, client("aiohttp", url, concurrency))
    return aiohttp_way(url, concurrency)


async def measure(way: str, url: str, concurrency: int, requests: int) -> float:
    """ms of process CPU per request, the connections warm."""
    send, close = make(way, url, concurrency)
    try:
        await asyncio.gather(*(send() for _ in range(concurrency)))  # open the pool
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await send()

        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return (time.process_time() - cpu) / requests * 1000
    finally:
        await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--requests", type=int, default=3000)
    parser.add_argument("-r", "--rounds", type=int, default=5)
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("-w", "--ways", nargs="+", default=["httpx", "httpx-aiohttp", "promptguard", "aiohttp"])
    args = parser.parse_args()
    with TimedServer() as server:
        url = f"{server.url}/chat/completions"
        print(f"{args.requests} requests a round, median of {args.rounds} rounds (min-max), ms CPU per request")
        for concurrency in args.concurrency:
            for way in args.ways:
                figures = [asyncio.run(measure(way, url, concurrency, args.requests)) for _ in range(args.rounds)]
                print(
                    f"C={concurrency:<3} {way:<14} {statistics.median(figures):.3f} "
                    f"({min(figures):.3f}-{max(figures):.3f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
