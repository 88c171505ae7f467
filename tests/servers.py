"""Local model servers for the tests: real sockets on 127.0.0.1 speaking the providers' wire formats."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server sends for one request."""

    status: int = 200
    body: Any = None  # dict -> JSON; str/bytes -> sent as is
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # A streamed body instead: each (delay_s, bytes) piece written after its delay, as it would be by a model
    # producing tokens; Content-Type text/event-stream unless `headers` say otherwise.
    stream: Sequence[tuple[float, bytes]] | None = None
    chunked: bool = True  # False: no Transfer-Encoding, the end of the body is the connection closing


Responder = Callable[[dict[str, Any], dict[str, str]], Reply]


def chat_completion(
    text: str,
    *,
    model: str = "test-model-2024-01-01",
    fingerprint: str | None = "fp_test1",
    prompt_tokens: int | None = 12,
    completion_tokens: int | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
    }
    if fingerprint is not None:
        body["system_fingerprint"] = fingerprint
    if prompt_tokens is not None:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens if completion_tokens is not None else len(text.split()),
            "total_tokens": prompt_tokens + (completion_tokens or len(text.split())),
        }
    return body


def anthropic_message(
    text: str = "",
    *,
    tool_uses: Sequence[dict[str, Any]] = (),
    model: str = "claude-test-20250101",
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Messages API answer: text block (if any), then tool_use blocks {id, name, input}."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", **tool} for tool in tool_uses]
    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def gemini_response(
    *parts: dict[str, Any],
    model_version: str = "gemini-test-001",
    finish_reason: str = "STOP",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A generateContent answer with one candidate made of `parts` ({"text": ...} or {"functionCall": ...})."""
    body: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish_reason, "index": 0}],
        "modelVersion": model_version,
        "responseId": "resp-1",
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def ollama_chat(
    text: str = "",
    *,
    tool_calls: Sequence[dict[str, Any]] = (),
    model: str = "llama-test:8b",
    done_reason: str = "stop",
    prompt_eval_count: int | None = 11,
    eval_count: int | None = 5,
) -> dict[str, Any]:
    """A non-streamed /api/chat answer; tool calls are {name, arguments} with arguments an object."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [{"function": call} for call in tool_calls]
    body: dict[str, Any] = {
        "model": model,
        "created_at": "2025-01-01T00:00:00Z",
        "message": message,
        "done": True,
        "done_reason": done_reason,
    }
    if prompt_eval_count is not None:
        body["prompt_eval_count"] = prompt_eval_count
    if eval_count is not None:
        body["eval_count"] = eval_count
    return body


def sse_event(data: Any, event: str | None = None, newline: str = "\n") -> bytes:
    """One server-sent event: an `event:` line when named, the data (JSON unless a str) and the blank line."""
    text = data if isinstance(data, str) else json.dumps(data)
    lines = ([f"event: {event}"] if event else []) + [f"data: {text}", "", ""]
    return newline.join(lines).encode()


def chat_chunks(
    *pieces: str,
    tool_calls: Sequence[dict[str, Any]] = (),
    model: str = "test-model-2024-01-01",
    fingerprint: str = "fp_stream1",
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
) -> list[bytes]:
    """A streamed chat completion as OpenAI sends it: a role-only first chunk (no content yet), one chunk per
    text piece, one per tool-call delta ({index, id?, function: {name?, arguments}}), a chunk with the
    finish_reason, the usage chunk (`choices` empty) when `usage` is given, then `data: [DONE]`."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse_event(
            {
                "id": "chatcmpl-s1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "system_fingerprint": fingerprint,
                "choices": choices,
                **extra,
            }
        )

    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    events += [chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]) for piece in pieces]
    events += [chunk([{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]) for call in tool_calls]
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason}]))
    if usage is not None:
        events.append(chunk([], usage=usage))
    return events + [sse_event("[DONE]")]


def anthropic_events(
    *pieces: str,
    tool_use: dict[str, Any] | None = None,
    json_pieces: Sequence[str] = (),
    model: str = "claude-test-20250101",
    stop_reason: str = "end_turn",
    start_usage: dict[str, Any] | None = None,
    output_tokens: int = 7,
) -> list[bytes]:
    """A streamed Message as Anthropic sends it: message_start, a ping, a text block of `pieces` (if any), a
    tool_use block ({id, name}) whose input comes as `json_pieces`, message_delta and message_stop."""
    usage = start_usage or {"input_tokens": 9, "output_tokens": 1}
    message = {
        "id": "msg_s1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events = [
        sse_event({"type": "message_start", "message": message}, "message_start"),
        sse_event({"type": "ping"}, "ping"),
    ]
    index = 0
    if pieces:
        events.append(
            sse_event(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
        )
        events += [
            sse_event(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                "content_block_delta",
            )
            for piece in pieces
        ]
        events.append(sse_event({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        index = 1
    if tool_use is not None:
        block = {"type": "tool_use", **tool_use, "input": {}}
        events.append(
            sse_event({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start")
        )
        events += [
            sse_event(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
                "content_block_delta",
            )
            for piece in json_pieces
        ]
        events.append(sse_event({"type": "content_block_stop", "index": index}, "content_block_stop"))
    events.append(
        sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
            "message_delta",
        )
    )
    return events + [sse_event({"type": "message_stop"}, "message_stop")]


def gemini_events(
    *parts: dict[str, Any],
    model_version: str = "gemini-test-001",
    finish_reason: str = "STOP",
    usage: dict[str, Any] | None = None,
) -> list[bytes]:
    """A streamGenerateContent answer with alt=sse, lines ending in CRLF (which SSE allows as well as LF, so the
    reader must take both): one GenerateContentResponse per part; the last carries the finishReason and the whole
    usageMetadata."""
    events = []
    for number, part in enumerate(parts, 1):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": model_version, "responseId": "resp-s1"}
        if number == len(parts):
            candidate["finishReason"] = finish_reason
            if usage is not None:
                body["usageMetadata"] = usage
        events.append(sse_event(body, newline="\r\n"))
    return events


def ollama_lines(
    *pieces: str,
    tool_calls: Sequence[dict[str, Any]] = (),
    model: str = "llama-test:8b",
    done_reason: str = "stop",
    prompt_eval_count: int = 11,
    eval_count: int = 5,
) -> list[bytes]:
    """A streamed /api/chat answer: one JSON line per piece, one with the tool calls, then the `done` line."""

    def line(message: dict[str, Any], **extra: Any) -> bytes:
        return (
            json.dumps(
                {
                    "model": model,
                    "created_at": "2025-01-01T00:00:00Z",
                    "message": {"role": "assistant", **message},
                    **extra,
                }
            ).encode()
            + b"\n"
        )

    lines = [line({"content": piece}, done=False) for piece in pieces]
    if tool_calls:
        lines.append(line({"content": "", "tool_calls": [{"function": call} for call in tool_calls]}, done=False))
    return lines + [
        line(
            {"content": ""},
            done=True,
            done_reason=done_reason,
            prompt_eval_count=prompt_eval_count,
            eval_count=eval_count,
        )
    ]


def last_user_message(request: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a class attribute, or it is ignored: the default 5 turns a burst into 1 s stalls

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout, Ctrl-C, a cancelled call) is expected; anything else is printed."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class ModelServer:
    """An OpenAI-compatible chat server whose answers the test scripts.

    By default it answers `answers[last user message]`, or echoes the message back.
    """

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.responder: Responder | None = None
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []  # request paths, query string included
        self.in_flight = 0
        self.max_in_flight = 0
        # When each request was read and when its answer was written in full (time.perf_counter(), in arrival order
        # like `requests`; None while in flight or when the client left): what timing tests measure, where it happens.
        self.arrived: list[float] = []
        self.answered: list[float | None] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = {"raw": raw.decode(errors="replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    index = len(server.arrived)
                    server.requests.append(request)
                    server.headers.append(headers)
                    server.paths.append(self.path)
                    server.arrived.append(time.perf_counter())
                    server.answered.append(None)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server.respond(self.path, request, headers)
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    if reply.stream is not None:
                        self.send_stream(reply)
                        server.answered[index] = time.perf_counter()
                        return
                    body = reply.body
                    data = (
                        body
                        if isinstance(body, bytes)
                        else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                    )
                    self.send_response(reply.status)
                    self.send_header(
                        "Content-Type", "application/json" if not isinstance(body, (str, bytes)) else "text/plain"
                    )
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                    server.answered[index] = time.perf_counter()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test): nothing to answer
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def send_stream(self, reply: Reply) -> None:
                """Headers at once, then every piece after its delay, each written and sent by itself."""
                self.send_response(reply.status)
                headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **reply.headers}
                if reply.chunked:
                    headers["Transfer-Encoding"] = "chunked"
                else:
                    headers["Connection"] = "close"
                    self.close_connection = True
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                for delay_s, data in reply.stream or ():
                    if delay_s:
                        time.sleep(delay_s)
                    if data:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if reply.chunked else data)
                        self.wfile.flush()
                if reply.chunked:
                    self.wfile.write(b"0\r\n\r\n")

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def respond(self, path: str, request: dict[str, Any], headers: dict[str, str]) -> Reply:
        if self.responder is not None:
            return self.responder(request, headers)
        message = last_user_message(request)
        return Reply(body=chat_completion(self.answers.get(message, f"echo: {message}")))

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def root(self) -> str:
        """The server's URL without a path, for APIs whose base URL has none (Ollama)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to put in promptguard.yaml."""
        return f"{self.root}/v1"

    def __enter__(self) -> ModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
