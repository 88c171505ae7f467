"""`python -m pytest_promptguard init`: a first setup from what the machine has, that runs at once, offline or not,
and never overwrites a file or writes a key."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from pytest_promptguard.cli.init import init, ollama_url, probe_ollama
from pytest_promptguard.config.loader import Config

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
CANARY = "sk-canary-5f1e0c"  # a key's value: it must appear in no file and no output
FILES = (
    "promptguard.yaml",
    "prompts/starter.prompt.yaml",
    "prompts/starter_app.py",
    ".github/workflows/promptguard.yml",
)


class _Server(ThreadingHTTPServer):
    request_queue_size = 64
    daemon_threads = True


class FakeOllama:
    """`GET /api/tags` as Ollama answers it, listing `models`."""

    def __init__(self, models: list[str]) -> None:
        body = json.dumps({"models": [{"name": name, "size": 1} for name in models]}).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status = 200 if self.path == "/api/tags" else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    server = FakeOllama(["qwen2.5:0.5b", "llama3.2:latest"])
    yield server
    server.close()


def closed_port() -> str:
    """A local address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def nothing(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with no key and no Ollama."""
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    return {"OLLAMA_HOST": closed_port()}


def test_with_nothing_found_it_writes_a_setup_that_runs_offline_and_says_how_to_add_a_provider(
    pytester: pytest.Pytester, nothing: dict[str, str]
) -> None:
    lines = init(pytester.path, nothing)
    text = "\n".join(lines)
    assert "found no API key" in text and "the suite runs against 'offline'" in text
    assert "openai: {provider: openai, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}" in text
    assert [f"wrote {name}" for name in FILES] == [line for line in lines if line.startswith("wrote")]
    config = Config.load(pytester.path / "promptguard.yaml")
    assert config.default_models == ["offline"]
    # The next three commands, run as printed: record, check live, replay. Each passes and shows latency and cost.
    commands = [line.split("#")[0].split() for line in lines[lines.index("next:") + 1 :]]
    assert len(commands) == 3 and all(command[:2] == ["pytest", "--promptguard"] for command in commands)
    for command in commands:
        result = pytester.runpytest(*command[1:], "-p", "no:cacheprovider")
        result.assert_outcomes(passed=3)
        result.stdout.re_match_lines([r"starter +offline +3 +3 +0 +0 +0 +\d+\*? +\d+\*? +\d+ +\d+ +\$0\.0\d+\*?$"])
    assert (pytester.path / "prompts/__golden__/starter.prompt.golden.yaml").is_file()


def test_it_writes_a_model_for_each_provider_it_finds_and_never_a_key(
    tmp_path: Path, ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        "OPENAI_API_KEY": CANARY,
        "ANTHROPIC_API_KEY": CANARY,
        "GOOGLE_API_KEY": CANARY,
        "OLLAMA_HOST": ollama.url,
    }
    lines = init(tmp_path, environ)
    assert lines[:4] == [
        "found: OPENAI_API_KEY is set → model 'openai' (openai, gpt-4o-mini)",
        "found: ANTHROPIC_API_KEY is set → model 'anthropic' (anthropic, claude-haiku-4-5)",
        "found: GOOGLE_API_KEY is set → model 'gemini' (gemini, gemini-2.5-flash-lite)",
        f"found: Ollama answers at {ollama.url} → model 'ollama' (ollama, qwen2.5:0.5b)",
    ]
    written = {name: (tmp_path / name).read_text() for name in FILES}
    assert all(CANARY not in text for text in [*written.values(), *lines])
    config = Config.load(tmp_path / "promptguard.yaml")
    assert config.default_models == ["openai", "anthropic", "gemini", "ollama"]
    specs = {name: config.model(name) for name in config.model_names}
    assert {name: spec.api_key_env for name, spec in specs.items()} == {
        "openai": "OPENAI_API_KEY",
        "anthropic": "ANTHROPIC_API_KEY",
        "gemini": "GOOGLE_API_KEY",
        "ollama": None,
        "offline": None,
    }
    assert specs["ollama"].base_url == ollama.url and specs["openai"].params == {"temperature": 0, "max_tokens": 200}
    workflow = yaml.safe_load(written[".github/workflows/promptguard.yml"])
    live = workflow["jobs"]["prompts"]["steps"][4]
    assert live["env"] == {
        key: f"${{{{ secrets.{key} }}}}" for key in ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")
    }
    assert (live["uses"], live["with"]["retry_on_exit_code"]) == ("nick-fields/retry@v3", 75)
    assert live["with"]["command"].split() == [
        *("pytest", "--promptguard", "prompts", "-k", '"not', 'ollama"'),
        *("--promptguard-outage-exit-code", "75", "--promptguard-html", "promptguard.html"),
    ]  # Ollama runs on this machine, not on the CI runner


def test_the_workflow_uses_real_options(pytester: pytest.Pytester, tmp_path: Path, ollama: FakeOllama) -> None:
    init(tmp_path, {"OPENAI_API_KEY": CANARY, "OLLAMA_HOST": ollama.url})
    help_text = pytester.runpytest("--help").stdout.str()
    flags = set(re.findall(r"--promptguard[a-z-]*", (tmp_path / ".github/workflows/promptguard.yml").read_text()))
    assert flags >= {"--promptguard", "--promptguard-replay", "--promptguard-outage-exit-code"}
    assert all(flag in help_text for flag in flags)


def test_it_never_overwrites_a_file_and_says_which_it_kept(tmp_path: Path, nothing: dict[str, str]) -> None:
    (tmp_path / "promptguard.yaml").write_text("models: {mine: {provider: python, callable: 'app:run'}}\n")
    lines = init(tmp_path, nothing)
    assert "kept  promptguard.yaml (it exists: not overwritten)" in lines
    assert "wrote prompts/starter.prompt.yaml" in lines
    assert (tmp_path / "promptguard.yaml").read_text() == "models: {mine: {provider: python, callable: 'app:run'}}\n"
    again = init(tmp_path, nothing)
    assert [line for line in again if line.startswith(("wrote", "kept"))] == [
        f"kept  {name} (it exists: not overwritten)" for name in FILES
    ]


def test_an_ollama_without_a_model_is_found_with_the_model_to_pull(tmp_path: Path) -> None:
    server = FakeOllama([])
    try:
        lines = init(tmp_path, {"OLLAMA_HOST": server.url.removeprefix("http://")})  # host:port, as Ollama reads it
    finally:
        server.close()
    assert lines[0] == (
        f"found: Ollama answers at {server.url} (no model pulled yet: ollama pull llama3.2) "
        "→ model 'ollama' (ollama, llama3.2)"
    )


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("gpu-box:8080", "http://gpu-box:8080"),
        ("https://ollama.example/", "https://ollama.example:11434"),
    ],
)
def test_ollama_is_looked_for_where_ollama_host_says(host: str, url: str) -> None:
    assert ollama_url({"OLLAMA_HOST": host}) == url


def test_the_probe_gives_up_quickly_on_a_server_that_never_answers() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.perf_counter()
        assert probe_ollama(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.2) is None
        assert time.perf_counter() - started < 1.0
    started = time.perf_counter()
    assert probe_ollama(f"http://{closed_port()}") is None  # nothing listening: refused at once
    assert time.perf_counter() - started < 0.5


def test_the_command(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in KEYS} | {"OLLAMA_HOST": closed_port()}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_promptguard", "init", str(tmp_path / "project")],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"next, in {tmp_path / 'project'}:" in done.stdout
    assert all((tmp_path / "project" / name).is_file() for name in FILES)
