from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from pytest_promptguard.call.transport import TRANSPORTS, client

from .meaning import MeaningServer
from .servers import ModelServer


def _import_lazy_http_modules() -> None:
    """pytester's in-process runs forget modules first imported during a run (and would import aiohttp afresh in
    each), but httpx caches httpcore's exception classes on first use: import them all once, before any run, by
    making one failing request on each transport."""

    async def request() -> None:
        for transport in TRANSPORTS:
            async with client(transport, "http://127.0.0.1:9", 1) as http:
                try:
                    await http.get("http://127.0.0.1:9/")
                except httpx.HTTPError:
                    pass

    asyncio.run(request())


_import_lazy_http_modules()
# Hypothesis's pytest plugin imports hypothesis in every run's terminal summary (~1 s); import it once here.
import hypothesis  # noqa: E402,F401

# The plugin imports jsonschema and each check family when a run first needs them (a faster start). Import them once
# here too: a module first imported in an in-process run is forgotten after it, so every run would import jsonschema
# afresh, and the registry would keep a family registered with classes the next run's modules no longer know.
import jsonschema  # noqa: E402,F401

from pytest_promptguard.checks import REGISTRY  # noqa: E402

for _check in REGISTRY:
    REGISTRY[_check]


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
def meaning_server() -> Iterator[MeaningServer]:
    """Chat, a grader, and the OpenAI, Ollama and Gemini embedding formats (see meaning.py)."""
    with MeaningServer() as server:
        yield server


@pytest.fixture
def write(pytester: pytest.Pytester):
    """Write a dedented file under the pytester folder: write("a/b.prompt.yaml", "...")."""

    def write(name: str, text: str) -> Path:
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def openai_config(pytester: pytest.Pytester, model_server: ModelServer):
    """Write promptguard.yaml with model `fast` (openai, at the local server) plus any `models` given."""

    def make(models: dict | None = None, **fast: object) -> Path:
        spec = {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": model_server.url,
            "timeout_s": 5,
            "max_backoff_s": 0.05,
            **fast,
        }
        # One golden sample per case, as at temperature 0: the tests of sampled baselines ask for more.
        data = {
            "default_models": ["fast"],
            "models": {"fast": spec, **(models or {})},
            "drift": {"baseline_samples": 1},
        }
        path = pytester.path / "promptguard.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return make
