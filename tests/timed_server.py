"""An OpenAI-compatible chat server in a process of its own, cheap enough never to be the bottleneck, that reports
its own time: how long it held each request, from the request fully read to the answer written.

It runs apart from the client so that the client's work (its interpreter lock above all) cannot delay it, and it
is an asyncio protocol that parses only what it must (the head's Content-Length, `"stream":true` in the body), so
a thousand calls a second cost it a few percent of a core. "Read" is when the request's last bytes arrived, as the
kernel stamped them (SO_TIMESTAMPNS, on Linux; elsewhere when the server read them): a server that is slow to get
to a request, because the machine is busy, holds it longer, and that is the server's time, not the client's
measurement error. Every answer says the server's own figures twice: in
the `x-server-time-ms` header and at the end of its text (`server_ms=12.345`; streamed: `server_ttft_ms=… server_ms=…`),
where a call record keeps them, so a benchmark or a test can subtract them from the latency the client recorded.

    python tests/timed_server.py --latency 0.05 --ttft 0.01     # prints `port N`, serves until stdin closes

It prints `first <time.time()>` when it reads its first request (start-up to the first call, measured).

Non-streamed answers come `--latency` seconds after the request; streamed ones send a role chunk and the first
content after `--ttft`, the rest (more content, the finish reason, the usage, `[DONE]`) at `--latency`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HEAD_END = b"\r\n\r\n"
SO_TIMESTAMPNS = 35 if sys.platform == "linux" else None  # asm-generic's value (x86, arm)
TIMESPEC = struct.Struct("@ll")


class ArrivalSocket(socket.socket):
    """A socket that notes when the bytes it reads arrived; as a listening socket, its connections are ArrivalSockets
    (asyncio accepts and reads through the very objects it is given)."""

    arrived = 0.0  # time.perf_counter() of the last bytes read
    accepted: dict[int, ArrivalSocket] = {}  # by file descriptor, for the protocols to find theirs

    def accept(self) -> tuple[ArrivalSocket, Any]:
        fd, address = self._accept()  # type: ignore[attr-defined]
        connection = ArrivalSocket(self.family, self.type, self.proto, fileno=fd)
        ArrivalSocket.accepted[fd] = connection
        return connection, address

    def recv(self, size: int, flags: int = 0) -> bytes:
        if SO_TIMESTAMPNS is None:
            data = super().recv(size, flags)
            self.arrived = time.perf_counter()
            return data
        data, ancillary, _, _ = self.recvmsg(size, socket.CMSG_SPACE(TIMESPEC.size), flags)
        self.arrived = time.perf_counter()
        for level, kind, stamp in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack_from(stamp)
                self.arrived -= max(0, time.time_ns() - seconds * 1_000_000_000 - nanoseconds) / 1e9
        return data


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "bench-model", **extra}
    body["choices"] = [] if "usage" in extra else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
    b"cache-control: no-cache\r\n\r\n"
)
FIRST_EVENTS = chunk({"role": "assistant", "content": ""}) + chunk({"content": "ok"})
LAST_EVENTS = (
    chunk({}, "stop") + chunk({}, usage={"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
) + b"data: [DONE]\n\n"


# Answers are made ahead with a marker where the server's time goes, so that nothing but formatting a number and
# the write itself comes between taking that time and writing: a server descheduled there would under-report.
MARK = "@@MS@@"
ANSWER_HEAD, ANSWER_TAIL = (
    json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "model": "bench-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"ok server_ms={MARK}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        },
        separators=(",", ":"),
    )
    .encode()
    .split(MARK.encode())
)
LAST_HEAD, LAST_TAIL = (chunk({"content": f" server_ttft_ms={MARK}"}) + LAST_EVENTS).split(MARK.encode())


class Exchange(asyncio.Protocol):
    """One keep-alive connection: requests one after the other, each answered after the server's latency."""

    latency_s = 0.0
    ttft_s = 0.0
    first = True  # the first request of the server's life is announced on stdout (start-up benchmarks)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ArrivalSocket.accepted.pop(sock.fileno())
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(HEAD_END)) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            body, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
            self.handle(body, self.sock.arrived)

    def handle(self, body: bytes, read_at: float) -> None:
        if Exchange.first:
            Exchange.first = False
            print(f"first {time.time()}", flush=True)
        loop = asyncio.get_running_loop()
        if b'"stream":true' in body or b'"stream": true' in body:
            loop.call_later(self.ttft_s, self.first_events, read_at)
        elif self.latency_s:
            loop.call_later(self.latency_s, self.answer, read_at)
        else:
            self.answer(read_at)

    def answer(self, read_at: float) -> None:
        if self.transport.is_closing():
            return
        ms = (time.perf_counter() - read_at) * 1000
        data = b"%s%.3f%s" % (ANSWER_HEAD, ms, ANSWER_TAIL)
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\nx-server-time-ms: %.3f\r\n\r\n%s"
            % (len(data), ms, data)
        )

    def first_events(self, read_at: float) -> None:
        if self.transport.is_closing():
            return
        ttft_ms = (time.perf_counter() - read_at) * 1000
        self.transport.write(STREAM_HEAD + http_chunk(FIRST_EVENTS))
        rest = max(0.0, self.latency_s - self.ttft_s)
        asyncio.get_running_loop().call_later(rest, self.last_events, read_at, ttft_ms)

    def last_events(self, read_at: float, ttft_ms: float) -> None:
        if self.transport.is_closing():
            return
        ms = (time.perf_counter() - read_at) * 1000
        events = b"%s%.3f server_ms=%.3f%s" % (LAST_HEAD, ttft_ms, ms, LAST_TAIL)
        self.transport.write(http_chunk(events) + b"0\r\n\r\n")


async def serve(latency_s: float, ttft_s: float) -> None:
    Exchange.latency_s, Exchange.ttft_s = latency_s, ttft_s
    loop = asyncio.get_running_loop()
    listening = ArrivalSocket(socket.AF_INET, socket.SOCK_STREAM)
    if SO_TIMESTAMPNS is not None:
        listening.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # inherited by the connections accepted
    listening.bind(("127.0.0.1", 0))
    server = await loop.create_server(Exchange, sock=listening, backlog=1024)
    print(f"port {listening.getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin (or dies)
    server.close()


class TimedServer:
    """The server as a child process: `with TimedServer(latency_s=0.05) as server: server.url`."""

    def __init__(self, latency_s: float = 0.0, ttft_s: float = 0.0) -> None:
        self.args = ["--latency", str(latency_s), "--ttft", str(ttft_s)]

    def __enter__(self) -> TimedServer:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), *self.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().split()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def first_request_at(self) -> float:
        """time.time() when the server read its first request (waits for it)."""
        assert self.process.stdout is not None
        return float(self.process.stdout.readline().split()[1])

    def __exit__(self, *exc: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_times(text: str) -> dict[str, float]:
    """The figures the server wrote at the end of an answer's text: {"server_ms": …, "server_ttft_ms": …}."""
    return {key: float(value) for key, _, value in (word.partition("=") for word in text.split()) if _}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before the answer (its end, streamed)")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before a streamed answer's first content")
    options = parser.parse_args()
    asyncio.run(serve(options.latency, options.ttft))
