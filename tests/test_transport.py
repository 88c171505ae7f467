"""The transports under the providers' httpx clients (call/transport.py): aiohttp's, the default, and httpx's own.

What held on httpx's transport holds on both, each pinned here with its time taken where it happens (at the
server, or on the call record): Retry-After, per-attempt bounds, redirects refused, streams and their time to
first token, proxies from the environment, Ctrl-C cancelling the calls in flight. tests/test_faults.py runs the
fault matrix on both. And latency is stamped where the bytes cross (call/wiresocket.py): a reply read late, or
read while the main thread is busy, still says when it arrived.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

import pytest_promptguard
from pytest_promptguard.call.scheduler import Scheduler
from pytest_promptguard.call.transport import TRANSPORTS, AiohttpTransport, LeanClient, tls_context
from pytest_promptguard.call.wiresocket import timed_socket
from pytest_promptguard.config.loader import Config
from pytest_promptguard.config.spec import ModelSpec
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.results import Call
from pytest_promptguard.providers import make_provider
from pytest_promptguard.providers.timing import TIMING, Timing

from .recording import RECORDER, read_records
from .servers import Reply, chat_chunks, chat_completion, last_user_message, ollama_lines
from .test_streaming import assert_timed, call_once, streamed
from .timed_server import TimedServer, server_times


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


def calls(base_url: str, prompts: list[str], **spec: object) -> list[Call]:
    """One call per prompt, all at once, through the real scheduler (which times them)."""
    settings: dict = {"timeout_s": 5, "retries": 1, "max_backoff_s": 5, **spec}
    model = ModelSpec(name="main", provider="openai", model="m-1", base_url=base_url, **settings)
    provider, scheduler = make_provider(model), Scheduler(8)
    try:
        for prompt in prompts:
            scheduler.submit(prompt, provider, model.request(({"role": "user", "content": prompt},)))
        return [scheduler.calls(prompt)[0] for prompt in prompts]
    finally:
        scheduler.close()


class Arrivals:
    """A responder that notes when each request arrived, per prompt, and answers `first[prompt]` to a prompt's
    first request, a good answer after."""

    def __init__(self, first: dict[str, Reply]) -> None:
        self.first, self.at, self.lock = first, {}, threading.Lock()

    def __call__(self, request: dict, headers: dict) -> Reply:
        prompt = last_user_message(request)
        with self.lock:
            self.at.setdefault(prompt, []).append(time.monotonic())
            again = len(self.at[prompt]) > 1
        return Reply(body=chat_completion(f"ok: {prompt}")) if again or prompt not in self.first else self.first[prompt]


# --- what holds on both ----------------------------------------------------------------------------------------


def test_retry_after_is_waited_between_attempts(model_server, transport):
    """The server's wait, not our backoff (at most 0.5 s before a second attempt): seconds and milliseconds."""
    error = {"error": {"message": "slow down"}}
    arrivals = Arrivals(
        {
            "seconds": Reply(status=429, body=error, headers={"Retry-After": "1"}),
            "millis": Reply(status=503, body=error, headers={"retry-after-ms": "700"}),
        }
    )
    model_server.responder = arrivals
    done = calls(model_server.url, ["seconds", "millis"], transport=transport)
    assert [(c.error, c.attempts, c.text) for c in done] == [(None, 2, "ok: seconds"), (None, 2, "ok: millis")]
    seconds, millis = (arrivals.at[p][1] - arrivals.at[p][0] for p in ("seconds", "millis"))
    assert seconds >= 1.0 and millis >= 0.7


def test_each_attempt_is_bounded_by_timeout_s(model_server, transport):
    model_server.responder = lambda request, headers: Reply(body=chat_completion("late"), delay_s=2)
    [call] = calls(model_server.url, ["q"], transport=transport, timeout_s=0.2, max_backoff_s=0.01)
    assert call.error is not None and call.error.kind == "timeout" and call.attempts == 2
    assert "no answer from http://127.0.0.1:" in call.error.message and "within 0.2 s" in call.error.message
    assert 200 <= call.latency_ms < 1000  # the last attempt, cut at its bound
    assert len(model_server.requests) == 2


def test_a_whole_call_is_bounded_waiting_for_a_slot_included(model_server):
    """timeout_s 0.3 and no retry bound a call at 1.3 s: the eighth call, queued behind seven of 0.25 s each at
    max_concurrency 1, gives up without being sent."""
    model_server.responder = lambda request, headers: Reply(body=chat_completion("ok"), delay_s=0.25)
    done = calls(model_server.url, [f"q{i}" for i in range(8)], timeout_s=0.3, retries=0, max_concurrency=1)
    assert done[0].error is None
    last = done[-1]
    assert last.error is not None and last.error.kind == "timeout"
    assert last.error.message.startswith("gave up after 0 attempt(s) within 1.3 s")
    assert len(model_server.requests) < 8


def test_redirects_are_refused_not_followed(model_server, transport):
    model_server.responder = lambda request, headers: Reply(
        status=307, body="", headers={"Location": "https://elsewhere.example/v1/chat/completions"}
    )
    [call] = calls(model_server.url, ["q"], transport=transport)
    assert call.error is not None and call.attempts == 1 and len(model_server.requests) == 1
    assert "HTTP 307" in call.error.message and "redirected to https://elsewhere.example/" in call.error.message
    assert "redirects are not followed: set base_url to the API's own address" in call.error.message


@pytest.mark.parametrize("provider", ["openai", "ollama"], ids=["sse", "json-lines"])
def test_streams_are_read_and_timed(model_server, transport, provider):
    if provider == "openai":
        events, head, base_url = chat_chunks("It is ", "sunny."), 1, model_server.url
    else:
        events, head, base_url = ollama_lines("It is ", "sunny."), 0, model_server.root
    model_server.responder = streamed(events, head)
    call = call_once(provider, base_url, transport=transport)
    assert call.text == "It is sunny."
    assert_timed(call, pieces_after_first=len(events) - head - 1)


def test_proxy_variables_are_honoured(model_server, transport, monkeypatch):
    """HTTP_PROXY sends the call through the proxy (here the model server, which sees the absolute URL)."""
    monkeypatch.setenv("HTTP_PROXY", model_server.root)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    [call] = calls("http://api.example.invalid/v1", ["q"], transport=transport)
    assert call.error is None and call.text == "echo: q"
    assert model_server.paths == ["http://api.example.invalid/v1/chat/completions"]


TLS = Path(__file__).parent / "tls"  # a self-signed certificate for 127.0.0.1, for these tests only


@pytest.fixture
def tls_server() -> Iterator[str]:
    """An https chat server on 127.0.0.1 whose certificate no public authority signed; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(chat_completion("over tls")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64

        def get_request(self):  # type: ignore[no-untyped-def]
            connection, address = super().get_request()
            return context.wrap_socket(connection, server_side=True), address

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_certificates_are_checked_as_httpx_checks_them(tls_server, transport, monkeypatch):
    """certifi's authorities, or SSL_CERT_FILE's: an unknown certificate is refused, a trusted one works."""
    tls_context.cache_clear()
    try:
        [refused] = calls(tls_server, ["q"], transport=transport, retries=0)
        assert refused.error is not None and refused.error.kind == "connection"
        assert "certificate verify failed" in refused.error.message
        monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "cert.pem"))
        tls_context.cache_clear()
        [trusted] = calls(tls_server, ["q"], transport=transport, retries=0)
        assert trusted.error is None and trusted.text == "over tls"
    finally:
        tls_context.cache_clear()


# --- the transport a model uses ---------------------------------------------------------------------------------


def test_transport_is_chosen_per_model_and_each_client_made_once(tmp_path):
    (tmp_path / "promptguard.yaml").write_text(
        yaml.safe_dump(
            {
                "models": {
                    "lean": {"provider": "openai", "model": "a", "base_url": "http://127.0.0.1:9/v1"},
                    "same": {"provider": "openai", "model": "b", "base_url": "http://127.0.0.1:9/v1"},
                    "pure": {
                        "provider": "openai",
                        "model": "c",
                        "base_url": "http://127.0.0.1:9/v1",
                        "transport": "httpx",
                    },
                }
            }
        )
    )
    config = Config.load(tmp_path / "promptguard.yaml")
    scheduler = Scheduler(16)
    lean, same, pure = (scheduler._client(make_provider(config.model(name))) for name in ("lean", "same", "pure"))
    assert isinstance(lean, LeanClient) and isinstance(lean._wire, AiohttpTransport) and lean is same
    assert type(pure) is httpx.AsyncClient and isinstance(pure._transport, httpx.AsyncHTTPTransport)
    for client in (lean, pure):  # no httpx timeouts (asyncio bounds each attempt), no redirects followed
        assert client.timeout == httpx.Timeout(None) and client.follow_redirects is False
    assert lean._wire.connections == 16  # the pool follows the concurrency


def test_an_unknown_transport_is_an_error_naming_the_line(tmp_path):
    config = tmp_path / "promptguard.yaml"
    config.write_text("models:\n  fast:\n    provider: openai\n    model: x\n    transport: aiohtp\n")
    with pytest.raises(PromptguardError) as raised:
        Config.load(config)
    assert str(raised.value) == (
        f"{config}:5: 'aiohtp' at 'models.fast.transport' is not allowed (did you mean 'aiohttp'?)\n"
        "  fix: use one of: aiohttp, httpx"
    )


# --- Ctrl-C ------------------------------------------------------------------------------------------------------


class HoldingServer:
    """Reads each request and never answers; notes, per connection, when its request came and when the client hung
    up (closed the connection)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.asked: list[float] = []  # when each request came (one a connection: none is answered)
        self.closed: list[float] = []  # when a connection that brought a request was closed
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(30)
            asked = False
            try:
                while connection.recv(65536):
                    if not asked:
                        asked = True
                        self.asked.append(time.monotonic())
            except OSError:
                pass
            if asked:
                self.closed.append(time.monotonic())


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_cancels_the_calls_in_flight(pytester, write, transport):
    server = HoldingServer()
    spec = {"provider": "openai", "model": "m-1", "base_url": server.url, "transport": transport, "max_concurrency": 4}
    (pytester.path / "promptguard.yaml").write_text(yaml.safe_dump({"default_models": ["m"], "models": {"m": spec}}))
    write("many.prompt.yaml", "cases:\n" + "".join(f"  - {{id: c{i}, prompt: 'p{i}'}}\n" for i in range(20)))
    source = str(Path(pytest_promptguard.__file__).parents[1])  # the code under test, whatever PYTHONPATH says
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--promptguard", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": source},
    )
    deadline = time.monotonic() + 20
    while len(server.asked) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.asked) == 4  # four calls in flight (max_concurrency), held by the server
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output and "Traceback" not in output and "INTERNALERROR" not in output
    # The calls in flight were hung up on, and the sixteen not yet sent never are.
    assert len(server.closed) == 4 and interrupted < min(server.closed) and max(server.closed) < interrupted + 10
    assert len(server.asked) == 4
    server.sock.close()


# --- latency stamped where the bytes cross ------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's receive stamps (SO_TIMESTAMPNS) are Linux's")
def test_a_reply_read_late_says_when_it_arrived():
    """The kernel's stamp: bytes that arrived 200 ms before they were read are stamped then, not when read."""
    listening = socket.create_server(("127.0.0.1", 0))
    family, kind, proto = socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    client = timed_socket((family, kind, proto, "", listening.getsockname()))
    client.connect(listening.getsockname())
    server, _ = listening.accept()
    timing = Timing()
    token = TIMING.set(timing)
    try:
        client.send(b"request")
    finally:
        TIMING.reset(token)
    assert server.recv(100) == b"request" and timing.sent_at is not None
    # Linux turns receive stamps on a moment after the first socket asks (a deferred work item flips a static key);
    # until then a segment is stamped when read. Wait for stamps to be on, as any run's later calls find them.
    deadline = time.perf_counter() + 5
    while time.perf_counter() < deadline:
        server.sendall(b"ping")
        time.sleep(0.02)
        assert client.recv(100) == b"ping"
        if time.perf_counter() - timing.received_at >= 0.015:
            break
    before = time.perf_counter()
    server.sendall(b"answer")  # on loopback, in the client's socket when this returns
    after = time.perf_counter()
    time.sleep(0.2)
    assert client.recv(100) == b"answer"
    read = time.perf_counter()
    assert timing.received_at is not None and before - 0.005 < timing.received_at < after + 0.005
    assert read - timing.received_at >= 0.2
    for sock in (client, server, listening):
        sock.close()


BUSY_CONFTEST = """
import time

def pytest_runtest_call(item):
    # The harness's own work in the main thread (checks, statistics, reports), 20 ms of it an item, while other
    # calls are in flight: the loop thread waits for the interpreter lock meanwhile.
    end = time.perf_counter() + 0.02
    while time.perf_counter() < end:
        sum(i * i for i in range(100))
"""


@pytest.fixture(scope="module")
def timed_server() -> Iterator[TimedServer]:
    with TimedServer(latency_s=0.05, ttft_s=0.01) as server:
        yield server


def test_latency_is_the_servers_time_while_the_main_thread_is_busy(pytester, write, timed_server):
    """Latency less the server's own time (request read to answer written, as the server stamps them), p95, with
    the main thread busy for 20 ms an item while 8 calls are in flight: a fraction of a millisecond where the
    kernel stamps arrivals, under 15 ms anywhere; a timestamp that waits for the interpreter lock is off by up to
    the switch interval (5 ms) per wait, and by more whenever the loop has other replies to read first."""
    models = {
        "plain": {"provider": "openai", "model": "m", "base_url": timed_server.url, "max_concurrency": 8},
        "streamed": {"provider": "openai", "model": "m", "base_url": timed_server.url, "stream": True},
    }
    (pytester.path / "promptguard.yaml").write_text(
        yaml.safe_dump({"default_models": ["plain", "streamed"], "models": models})
    )
    write("timed.prompt.yaml", "cases:\n" + "".join(f"  - {{id: c{i}, prompt: 'p{i}'}}\n" for i in range(40)))
    pytester.makeconftest(RECORDER + BUSY_CONFTEST)
    pytester.runpytest("--promptguard", "--promptguard-concurrency", "8").assert_outcomes(passed=80)
    errors: dict[str, list[float]] = {"latency": [], "ttft": []}
    for record in read_records(pytester):
        [call] = record["calls"]
        server = server_times(call["text"])
        errors["latency"].append(call["latency_ms"] - server["server_ms"])
        if record["model"] == "streamed":
            errors["ttft"].append(call["ttft_ms"] - server["server_ttft_ms"])
    for name, values in errors.items():
        values.sort()
        p95 = values[int(0.95 * len(values)) - 1]
        assert values[0] > -1 and p95 < 15, (name, p95, values)


def test_the_benchmark_server_reports_its_own_time(timed_server):
    """What the tests above and benchmarks/bench_calls.py subtract: the header and the text agree."""
    response = httpx.post(f"{timed_server.url}/chat/completions", json={"messages": []})
    said = server_times(response.json()["choices"][0]["message"]["content"])
    assert said["server_ms"] == float(response.headers["x-server-time-ms"]) >= 50
    assert response.json()["usage"]["prompt_tokens"] == 10
