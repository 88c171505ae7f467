"""Local model servers for the tests: real sockets on 127.0.0.1 speaking the providers' wire formats."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence


@dataclass
class Reply:
    """What the server sends for one request."""

    status: int = 200
    body: Any = None  # dict -> JSON; str/bytes -> sent as is
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[dict[str, Any], dict[str, str]], Reply]


def chat_completion(text: str, *, model: str = "test-model-2024-01-01", fingerprint: str | None = "fp_test1",
                    prompt_tokens: int | None = 12, completion_tokens: int | None = None,
                    finish_reason: str = "stop") -> dict[str, Any]:
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


def anthropic_message(text: str = "", *, tool_uses: Sequence[dict[str, Any]] = (), model: str = "claude-test-20250101",
                      stop_reason: str = "end_turn", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Messages API answer: text block (if any), then tool_use blocks {id, name, input}."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", **tool} for tool in tool_uses]
    body: dict[str, Any] = {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                            "content": content, "stop_reason": stop_reason, "stop_sequence": None}
    if usage is not None:
        body["usage"] = usage
    return body


def gemini_response(*parts: dict[str, Any], model_version: str = "gemini-test-001", finish_reason: str = "STOP",
                    usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """A generateContent answer with one candidate made of `parts` ({"text": ...} or {"functionCall": ...})."""
    body: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish_reason, "index": 0}],
        "modelVersion": model_version,
        "responseId": "resp-1",
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def ollama_chat(text: str = "", *, tool_calls: Sequence[dict[str, Any]] = (), model: str = "llama-test:8b",
                done_reason: str = "stop", prompt_eval_count: int | None = 11,
                eval_count: int | None = 5) -> dict[str, Any]:
    """A non-streamed /api/chat answer; tool calls are {name, arguments} with arguments an object."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [{"function": call} for call in tool_calls]
    body: dict[str, Any] = {"model": model, "created_at": "2025-01-01T00:00:00Z", "message": message,
                            "done": True, "done_reason": done_reason}
    if prompt_eval_count is not None:
        body["prompt_eval_count"] = prompt_eval_count
    if eval_count is not None:
        body["eval_count"] = eval_count
    return body


def last_user_message(request: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


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
                    server.requests.append(request)
                    server.headers.append(headers)
                    server.paths.append(self.path)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    reply = server.respond(self.path, request, headers)
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    body = reply.body
                    data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json" if not isinstance(body, (str, bytes)) else "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test): nothing to answer
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
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

    def __enter__(self) -> "ModelServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
