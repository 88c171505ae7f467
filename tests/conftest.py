from __future__ import annotations

import asyncio
import gc
import importlib
import pkgutil
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import yaml

from pytest_promptguard.call.transport import TRANSPORTS, client

try:  # what pytester's own inline_run sets (pytest >= 8.4, whose configs collect garbage when cleaned up)
    from _pytest.unraisableexception import gc_collect_iterations_key
except ImportError:
    gc_collect_iterations_key = None

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


def _import_the_plugin() -> None:
    """pytester's in-process runs drop the modules first imported during a run: import every module of the
    plugin once, here, or each run imports (and, without bytecode files, compiles) the ones it uses again."""
    import pytest_promptguard

    for module in pkgutil.walk_packages(pytest_promptguard.__path__, "pytest_promptguard."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


_import_the_plugin()
# Hypothesis's pytest plugin imports hypothesis in every run's terminal summary (~1 s); import it once here.
import hypothesis  # noqa: E402,F401

# The plugin imports jsonschema and each check family when a run first needs them (a faster start). Import them once
# here too: a module first imported in an in-process run is forgotten after it, so every run would import jsonschema
# afresh, and the registry would keep a family registered with classes the next run's modules no longer know.
import jsonschema  # noqa: E402,F401

from pytest_promptguard.checks import REGISTRY  # noqa: E402

for _check in REGISTRY:
    REGISTRY[_check]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (in the order they come, random or not): a minute-long test started last would keep
    one xdist worker busy long after the other has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


class _Thaw:
    """Unfreezes the garbage collector when an in-process run ends. The plugin freezes the heap after collection
    (a real run is one session a process); left frozen, the next in-process run finds it so and walks the whole
    heap of this process in a full collection before freezing it again."""

    def pytest_unconfigure(self) -> None:
        gc.unfreeze()


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester whose runs leave out Hypothesis's pytest plugin (no run of a pytester folder uses it, and it imports
    all of Hypothesis, ~1 s of CPU, in every pytest process: a subprocess run, each xdist worker), whose in-process
    runs leave the garbage collector as they found it (see _Thaw), and whose parsed configs skip the five full
    garbage collections pytest makes when a config is cleaned up, as pytester's own in-process runs do (whole
    seconds a test late in a session, when the heap is large)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")  # pytester clears it; subprocesses inherit it
    inline_run, parseconfig = pytester.inline_run, pytester.parseconfig

    def thawing_inline_run(*args: object, plugins: Sequence[object] = (), **kwargs: object) -> object:
        return inline_run(*args, plugins=[*plugins, _Thaw()], **kwargs)

    def parseconfig_without_collections(*args: object) -> pytest.Config:
        config = parseconfig(*args)
        if gc_collect_iterations_key is not None:
            config.stash[gc_collect_iterations_key] = 0
        return config

    monkeypatch.setattr(pytester, "inline_run", thawing_inline_run)
    monkeypatch.setattr(pytester, "parseconfig", parseconfig_without_collections)
    return pytester
