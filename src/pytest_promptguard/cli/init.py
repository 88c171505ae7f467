"""`python -m pytest_promptguard init [FOLDER]`: a first setup that runs at once.

It looks for the providers this machine can reach (an API key in the environment, an Ollama answering on
localhost) and writes promptguard.yaml with a model for each, a starter suite, a stand-in for the application (the
`offline` model, so the first run needs no key and no server) and a CI workflow. It never overwrites a file: an
existing one is kept, and said to be. It ends with the next three commands to type.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from .starter import APP, OFFLINE, SUITE, SUITES, Provider, config_text, workflow_text

OLLAMA_PORT = 11434
OLLAMA = f"http://127.0.0.1:{OLLAMA_PORT}"
PROBE_TIMEOUT_S = 0.5  # an Ollama on this machine answers in milliseconds; nothing listening answers at once
HOSTED = (  # (environment variables, in order of preference; the model's name, provider and model id)
    (("OPENAI_API_KEY",), "openai", "openai", "gpt-4o-mini"),
    (("ANTHROPIC_API_KEY",), "anthropic", "anthropic", "claude-haiku-4-5"),
    (("GEMINI_API_KEY", "GOOGLE_API_KEY"), "gemini", "gemini", "gemini-2.5-flash-lite"),
)
OLLAMA_MODEL = "llama3.2"  # suggested when Ollama answers with no model pulled yet


def ollama_url(environ: Mapping[str, str]) -> str:
    """Where Ollama listens: `OLLAMA_HOST` as Ollama itself reads it (`host:port` or a URL), else its default."""
    host = environ.get("OLLAMA_HOST", "").strip().rstrip("/")
    if not host:
        return OLLAMA
    url = host if "://" in host else f"http://{host}"
    try:
        port = urlsplit(url).port
    except ValueError:
        return url  # the probe finds nothing there, and says where it looked
    return url if port is not None else f"{url}:{OLLAMA_PORT}"  # Ollama's own default, as it reads OLLAMA_HOST


def probe_ollama(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> list[str] | None:
    """The models an Ollama at `url` has pulled (`GET /api/tags`), or None when nothing answers as Ollama does.
    Asked directly, never through a proxy of the environment: the question is about this machine."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/tags", timeout=timeout_s) as response:
            models = json.loads(response.read(1 << 20)).get("models")
    except (OSError, ValueError, AttributeError):  # refused, timed out, not HTTP, not JSON, not an object
        return None
    if not isinstance(models, list):
        return None
    return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]


def detect(environ: Mapping[str, str], probe: bool = True) -> list[Provider]:
    """The providers this machine can reach: a key in `environ` for each hosted API, and a local Ollama."""
    found = []
    for variables, name, provider, model in HOSTED:
        variable = next((v for v in variables if environ.get(v)), None)
        if variable is not None:
            found.append(Provider(name, provider, model, f"{variable} is set", api_key_env=variable))
    url = ollama_url(environ)
    pulled = probe_ollama(url) if probe else None
    if pulled is not None:
        model = pulled[0] if pulled else OLLAMA_MODEL
        why = f"Ollama answers at {url}" + ("" if pulled else f" (no model pulled yet: ollama pull {OLLAMA_MODEL})")
        found.append(Provider("ollama", "ollama", model, why, base_url=None if url == OLLAMA else url))
    return found


def write_new(path: Path, text: str) -> bool:
    """Create `path` with `text`; False, and nothing touched, when it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        return False
    return True


def init(folder: Path, environ: Mapping[str, str], probe: bool = True) -> list[str]:
    """Write the starter files under `folder`; the lines to print."""
    found = detect(environ, probe)
    files = {
        "promptguard.yaml": config_text(found),
        f"{SUITES}/starter.prompt.yaml": SUITE,
        f"{SUITES}/starter_app.py": APP,
        ".github/workflows/promptguard.yml": workflow_text(found),
    }
    lines = [f"found: {p.why} → model '{p.name}' ({p.provider}, {p.model})" for p in found]
    if not found:
        lines += [
            "found no API key (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY) and no Ollama "
            f"at {ollama_url(environ)}:",
            f"  the suite runs against '{OFFLINE}', a stand-in for your application in {SUITES}/starter_app.py",
            "to add a real provider, put it under 'models' in promptguard.yaml and in default_models, e.g.",
            "    openai: {provider: openai, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}",
            "  and export OPENAI_API_KEY (the key stays in the environment: promptguard never writes it)",
        ]
    for name, text in files.items():
        written = write_new(folder / name, text)
        lines.append(f"{'wrote' if written else 'kept '} {name}" + ("" if written else " (it exists: not overwritten)"))
    here = Path.cwd().resolve()
    lines += [f"next, in {folder}:" if folder.resolve() != here else "next:"]
    lines += [
        f"  pytest --promptguard --promptguard-update {SUITES}   # call the models once, record goldens to review",
        f"  pytest --promptguard {SUITES}                        # call again: checks, drift, latency, cost",
        f"  pytest --promptguard --promptguard-replay {SUITES}   # no call, no key: what CI runs on pull requests",
    ]
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_promptguard init",
        description="Write promptguard.yaml (a model per provider found), a starter suite and a CI workflow.",
    )
    parser.add_argument("folder", nargs="?", type=Path, default=Path("."), help="the project's root (default: here)")
    args = parser.parse_args(argv)
    for line in init(args.folder, os.environ):
        print(line)
    sys.stdout.flush()
    return 0
