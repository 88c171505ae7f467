"""A fault-injecting model server for the tests: raw sockets on 127.0.0.1, so that it can misbehave the way
real networks and proxies do — reset a connection mid-body, dribble bytes, promise more body than it sends,
hang, redirect, or answer JSON of the wrong shape.

It speaks the four HTTP providers' wire formats (openai, anthropic, gemini, ollama: told apart by the request
path) and decides per prompt: the first `times` requests of a prompt (counted per provider) get the fault, later
ones a good answer (`times=None`: always the fault). Counting per prompt keeps tests deterministic whatever order
requests arrive in.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .servers import anthropic_message, chat_completion, gemini_response, ollama_chat

PROVIDERS = ("openai", "anthropic", "gemini", "ollama")
HANG_LIMIT_S = 30.0  # a hanging answer ends by then at the latest (or when the server stops)

REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def base_url(provider: str, root: str) -> str:
    """The base_url to configure for `provider` at a server whose URL without a path is `root`."""
    return {"openai": f"{root}/v1", "anthropic": f"{root}/v1", "gemini": f"{root}/v1beta", "ollama": root}[provider]


def provider_of(path: str) -> str:
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith(":generateContent"):
        return "gemini"
    if path.endswith("/api/chat"):
        return "ollama"
    raise ValueError(f"no provider answers at {path}")


def prompt_of(provider: str, request: dict[str, Any]) -> str:
    if provider == "gemini":
        return request["contents"][-1]["parts"][0]["text"]
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


# --- answers in each wire format ---------------------------------------------------------------------------


def good(provider: str, text: str) -> dict[str, Any]:
    """A well-formed answer with usage reported."""
    if provider == "openai":
        return chat_completion(text, prompt_tokens=10, completion_tokens=3)
    if provider == "anthropic":
        return anthropic_message(text, usage={"input_tokens": 10, "output_tokens": 3})
    if provider == "gemini":
        return gemini_response({"text": text}, usage={"promptTokenCount": 10, "candidatesTokenCount": 3})
    return ollama_chat(text, prompt_eval_count=10, eval_count=3)


ANSWER_FIELD = {"openai": "choices", "anthropic": "content", "gemini": "candidates", "ollama": "message"}


def missing_answer(provider: str) -> dict[str, Any]:
    """Valid JSON without the field that holds the answer."""
    body = good(provider, "unused")
    body.pop(ANSWER_FIELD[provider])
    return body


def empty_content(provider: str) -> dict[str, Any]:
    """A well-formed answer whose text is empty and that calls no tool."""
    if provider == "anthropic":
        return anthropic_message("", usage={"input_tokens": 10, "output_tokens": 0})  # content: []
    if provider == "gemini":
        body = gemini_response(usage={"promptTokenCount": 10, "candidatesTokenCount": 0})
        body["candidates"][0]["content"]["parts"] = []
        return body
    return good(provider, "")


def null_usage(provider: str, text: str) -> dict[str, Any]:
    """A good answer whose usage is null."""
    body = good(provider, text)
    if provider in ("openai", "anthropic"):
        body["usage"] = None
    elif provider == "gemini":
        body["usageMetadata"] = None
    else:
        body["prompt_eval_count"] = body["eval_count"] = None
    return body


def wrong_types(provider: str) -> dict[str, Any]:
    """Valid JSON with the answer's fields of the wrong type."""
    body = good(provider, "unused")
    if provider == "openai":
        body["choices"][0]["message"] = "unused"
    elif provider == "anthropic":
        body["content"] = [{"type": "text", "text": 42}]
    elif provider == "gemini":
        body["candidates"][0]["content"] = ["unused"]
    else:
        body["message"]["content"] = ["unused"]
    return body


# --- the connection a fault writes to ----------------------------------------------------------------------


@dataclass
class Exchange:
    """One request and the socket its answer goes to."""

    sock: socket.socket
    server: FaultServer
    provider: str
    prompt: str
    path: str

    def good_body(self) -> bytes:
        return json.dumps(good(self.provider, f"ok: {self.prompt}")).encode()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(
        self,
        status: int = 200,
        headers: dict[str, str] | None = None,
        length: int | None = None,
        content_type: str = "application/json",
    ) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}", f"Content-Type: {content_type}"]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, (dict, list)):
            data, kind = json.dumps(body).encode(), "application/json"
        else:
            data, kind = (body if isinstance(body, bytes) else body.encode()), "text/html"
        self.send(self.head(status, headers, len(data), kind) + data)

    def wait(self, seconds: float) -> None:
        """Sleep, cut short when the server stops."""
        self.server.stopping.wait(seconds)

    def hang(self) -> None:
        self.wait(HANG_LIMIT_S)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# --- faults ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A way to answer badly. `ending` is what the run must make of it:
    'retried'   retried as transient: a pass once it clears, a clean error while it lasts;
    'fatal'     a clean error at once, not retried;
    'answer'    a usable answer (the item passes on its first attempt);
    'judged'    a usable but empty answer: the checks judge it (and fail it).
    `says` are fragments the item's error must contain (`{field}`: the provider's ANSWER_FIELD)."""

    name: str
    ending: str
    act: Callable[[Exchange], None]
    says: tuple[str, ...] = ()
    refused: bool = False  # no server listens at all


def _status(status: int, body: Any, headers: dict[str, str] | None = None) -> Callable[[Exchange], None]:
    return lambda ex: ex.answer(status, body, headers)


def _reset_before_answer(ex: Exchange) -> None:
    ex.reset()


def _reset_mid_body(ex: Exchange) -> None:
    body = ex.good_body()
    ex.send(ex.head(200, length=len(body)) + body[: len(body) // 2])
    ex.wait(0.05)  # let the client read the head and half the body first
    ex.reset()


def _short_body(ex: Exchange) -> None:
    """A Content-Length larger than the body, then a clean close (FIN)."""
    body = ex.good_body()
    ex.send(ex.head(200, length=len(body) + 100) + body)


def _truncated_json(ex: Exchange) -> None:
    """The framing is right; the JSON inside is cut off."""
    body = ex.good_body()[:40]
    ex.send(ex.head(200, length=len(body)) + body)


def _slow_loris(ex: Exchange) -> None:
    """Headers at once, then the body a byte every 50 ms: each read succeeds, the whole never arrives in time."""
    body = ex.good_body()
    ex.send(ex.head(200, length=len(body)))
    for byte in body:
        if ex.server.stopping.wait(0.05):
            return
        ex.send(bytes([byte]))


def _hang(ex: Exchange) -> None:
    ex.hang()


def _hang_mid_body(ex: Exchange) -> None:
    body = ex.good_body()
    ex.send(ex.head(200, length=len(body)) + body[:10])
    ex.hang()


def _huge_declared(ex: Exchange) -> None:
    """Announces 1 GiB, then sends zeros until the client hangs up (or 64 MiB)."""
    ex.send(ex.head(200, length=1 << 30))
    _zeros(ex, 64 << 20)


def _huge_chunked(ex: Exchange) -> None:
    """No length: 1 MiB chunks until the client hangs up (or 64 MiB)."""
    ex.send(ex.head(200, headers={"Transfer-Encoding": "chunked"}))
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
    for _ in range(64):
        ex.send(chunk)


def _zeros(ex: Exchange, total: int) -> None:
    chunk = b"0" * (1 << 20)
    for _ in range(total // len(chunk)):
        ex.send(chunk)


def _error_with_huge_body(ex: Exchange) -> None:
    """A 503 whose body (1 GiB announced) is a proxy's endless page: its message is read, the rest is not."""
    ex.send(ex.head(503, length=1 << 30, content_type="text/html") + b"<html>upstream overloaded " + b"." * 1000)
    _zeros(ex, 64 << 20)


def _redirect(status: int) -> Callable[[Exchange], None]:
    def act(ex: Exchange) -> None:
        ex.answer(status, "", {"Location": f"https://elsewhere.example{ex.path}"})

    return act


def _garbage(ex: Exchange) -> None:
    """Not HTTP at all."""
    ex.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def _bad_gzip(ex: Exchange) -> None:
    body = b"this is not gzip"
    ex.send(ex.head(200, headers={"Content-Encoding": "gzip"}, length=len(body)) + body)


def _body(make: Callable[[str], Any]) -> Callable[[Exchange], None]:
    return lambda ex: ex.answer(200, make(ex.provider))


def _null_usage(ex: Exchange) -> None:
    ex.answer(200, null_usage(ex.provider, f"ok: {ex.prompt}"))


ERROR = {"error": {"message": "the fault server says no"}}
FAULTS: tuple[Fault, ...] = (
    Fault("429-retry-after", "retried", _status(429, ERROR, {"Retry-After": "1"}), ("HTTP 429", "says no")),
    Fault("429-retry-after-ms", "retried", _status(429, ERROR, {"retry-after-ms": "20"}), ("HTTP 429",)),
    Fault("429-bare", "retried", _status(429, ERROR), ("HTTP 429", "says no")),
    Fault("500", "retried", _status(500, ERROR), ("HTTP 500", "says no")),
    Fault(
        "502-html",
        "retried",
        _status(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ("HTTP 502", "502 Bad Gateway"),
    ),
    Fault("503", "retried", _status(503, ERROR, {"Retry-After": "0"}), ("HTTP 503",)),
    Fault("503-huge-body", "retried", _error_with_huge_body, ("HTTP 503", "upstream overloaded", "…")),
    Fault("refused", "retried", _hang, ("cannot reach", "connection refused"), refused=True),
    Fault("reset-before-answer", "retried", _reset_before_answer, ("the connection to", "broke")),
    Fault("reset-mid-body", "retried", _reset_mid_body, ("the connection to", "broke")),
    Fault("short-body", "retried", _short_body, ("broken HTTP", "without sending complete message body")),
    Fault("garbage", "retried", _garbage, ("broken HTTP", "status line", "SSH-2.0-OpenSSH_9.6")),
    Fault("truncated-json", "retried", _truncated_json, ("not a JSON object",)),
    Fault("not-an-object", "retried", _status(200, ["ok"]), ("not a JSON object",)),
    Fault("bad-gzip", "retried", _bad_gzip, ("cannot be decoded",)),
    Fault("slow-loris", "retried", _slow_loris, ("no answer", "within")),
    Fault("hang", "retried", _hang, ("no answer", "within")),
    Fault("hang-mid-body", "retried", _hang_mid_body, ("no answer", "within")),
    Fault("huge-declared", "fatal", _huge_declared, ("larger than 16 MiB",)),
    Fault("huge-chunked", "fatal", _huge_chunked, ("larger than 16 MiB",)),
    Fault("redirect-301", "fatal", _redirect(301), ("HTTP 301", "https://elsewhere.example/", "base_url")),
    Fault("redirect-307", "fatal", _redirect(307), ("HTTP 307", "https://elsewhere.example/", "base_url")),
    Fault("missing-answer", "fatal", _body(missing_answer), ("'{field}'",)),
    Fault("wrong-types", "fatal", _body(wrong_types), ("unexpected shape",)),
    Fault("empty-content", "judged", _body(empty_content)),
    Fault("null-usage", "answer", _null_usage),
)
SLOW = {"slow-loris", "hang", "hang-mid-body"}


# --- the server --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    fault: Fault
    times: int | None  # None: always


@dataclass
class FaultServer:
    """`plans[prompt]` says how to answer requests for that prompt; prompts without a plan get good answers."""

    plans: dict[str, Plan] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)  # requests seen, per provider and prompt
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128  # the default 5 drops SYNs of concurrent calls: a 1 s retransmit

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up on a fault is expected

        self._tcp = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._tcp.server_address[1]}"

    def plan(self, prompt: str, fault: Fault, times: int | None) -> None:
        self.plans[prompt] = Plan(fault, times)

    def _handle(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(HANG_LIMIT_S)
        path, request = _read_request(sock)
        provider = provider_of(path)
        prompt = prompt_of(provider, request)
        with self._lock:
            attempt = self.attempts[provider, prompt] = self.attempts.get((provider, prompt), 0) + 1
        exchange = Exchange(sock, self, provider, prompt, path)
        plan = self.plans.get(prompt)
        if plan is not None and (plan.times is None or attempt <= plan.times):
            plan.fault.act(exchange)
        else:
            body = exchange.good_body()
            exchange.send(exchange.head(200, length=len(body)) + body)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self._tcp.shutdown()
        self._tcp.server_close()


def _read_request(sock: socket.socket) -> tuple[str, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the client left before its request was complete")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the client left before its request was complete")
        body += chunk
    return path, json.loads(body)


class RefusingPort:
    """A port on 127.0.0.1 that refuses connections: bound, never listening (so no one else can take it)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._sock.close()
