"""Find and load `promptguard.yaml`: the models suites run against and their defaults."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import PromptguardError, display_path
from ..core.results import Request
from ..core.validation import suggest, validate
from ..core.yamlsource import load_yaml
from ..core.yamltree import YamlMap, line_of
from .pricetable import find_provider, provider_ids, source_label
from .pricing import Price, price_from_spec
from .references import check_base_url, check_references

CONFIG_NAME = "promptguard.yaml"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_RETRIES = 3
DEFAULT_MAX_BACKOFF_S = 30.0
DEFAULT_AUTO_MIN, DEFAULT_AUTO_MAX = 2, 20
DEFAULT_TRANSPORT = "aiohttp"  # what carries a model's HTTP calls; "httpx": httpx's own (docs/speed.md)
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "ollama": "http://127.0.0.1:11434",
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ModelSpec:
    """One named model from the config, with `${ENV}` references resolved."""

    name: str
    provider: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    callable: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    retries: int = DEFAULT_RETRIES
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    rpm: float | None = None
    tpm: float | None = None
    price: Price | None = None  # overrides the shipped price snapshot
    price_provider: str | None = None  # whose prices apply (a provider id of the snapshot), when base_url cannot tell
    stream: bool = False  # ask for the answer as a stream, to time its first token (Call.ttft_ms)
    transport: str = DEFAULT_TRANSPORT
    source: Path | None = None
    line: int | None = None  # of its `callable` when it has one (import errors point there), else of its name

    def request(
        self,
        messages: tuple[dict[str, Any], ...],
        params: dict[str, Any] | None = None,
        **shape: Any,
    ) -> Request:
        """The request asking this model `messages`: `params` merged over the model's own; `shape` the request's
        turns, tools, tool_choice and response_format. Every request promptguard sends is built here."""
        return Request(
            model=self.name,
            provider=self.provider,
            model_id=self.model or self.callable,
            messages=messages,
            params={**self.params, **(params or {})},
            **shape,
        )

    @property
    def total_timeout_s(self) -> float:
        """The bound on a whole call: every attempt may time out and every retry may wait its longest
        (plus a second, so that the last attempt's own timeout is what gets reported)."""
        return self.timeout_s * (self.retries + 1) + self.max_backoff_s * self.retries + 1.0


def interpolate(value: Any, where: Path, line: int | None) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of `value` from the environment.

    As in the shell, the default replaces a variable that is unset or empty.
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if default is not None and not os.environ.get(name):
                return default
            if name in os.environ:
                return os.environ[name]
            raise PromptguardError(
                f"environment variable {name} is not set (used as ${{{name}}})",
                path=where,
                line=line,
                hint=f"export {name}, or give a default: ${{{name}:-value}}",
            )

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        lines = getattr(value, "lines", {})
        return {k: interpolate(v, where, lines.get(k, line)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, where, line) for v in value]
    return value


@dataclass(frozen=True)
class DriftSettings:
    """How drift from goldens is judged (`drift:` in promptguard.yaml).

    The tolerances say how large a significant change must be to count as drift, so that a real but
    harmless wobble (a similarity 2 points lower, 3% slower) never turns a build red.
    """

    min_similarity: float = 90.0
    min_semantic: float = 0.85  # cosine similarity, of golden checks with method: semantic
    scorer: str = "token_set_ratio"
    model_change: str = "warn"  # or "fail"
    alpha: float = 0.01  # false discovery rate of drift verdicts across a run
    similarity_tolerance: float = 5.0  # points of similarity (0-100)
    pass_rate_tolerance: float = 0.1  # share of samples passing a check
    latency_tolerance: float | None = None  # p95 growth; None: latency is not part of the verdict
    flaky: str = "report"  # or "fail"
    inconclusive: str = "report"  # or "fail"
    baseline_samples: int | None = None  # None: 1 at temperature 0, else 20
    auto: dict[str, int] = field(default_factory=dict)  # {min, max} of repeat: auto

    @property
    def auto_min(self) -> int:
        return self.auto.get("min", DEFAULT_AUTO_MIN)

    @property
    def auto_max(self) -> int:
        return max(self.auto.get("max", DEFAULT_AUTO_MAX), self.auto_min)


class Config:
    """A loaded `promptguard.yaml` (or the empty config when there is none).

    `rootdir` is pytest's rootdir: the files suites refer to (JSON Schemas) must lie below it.
    """

    def __init__(self, path: Path | None, data: YamlMap | None = None, rootdir: Path | None = None) -> None:
        self.path = path
        self.data = data if data is not None else YamlMap()
        self.rootdir = rootdir
        self._models: dict[str, ModelSpec] = {}

    @classmethod
    def load(cls, path: Path, rootdir: Path | None = None, candidates: Mapping[str, str] | None = None) -> Config:
        """The config at `path`, validated: its shape, the models it names (and the `--promptguard-candidate`
        models that replace them), and its models' base URLs."""
        data = load_yaml(path)
        if data is None:
            data = YamlMap()
        validate(data, "config", path)
        check_references(data, path, candidates or {})
        _check_base_urls(data, path)
        config = cls(path, data, rootdir)
        _extend_pythonpath(data, path)
        return config

    @property
    def model_names(self) -> list[str]:
        return list(self.data.get("models", {}))

    @property
    def drift(self) -> DriftSettings:
        drift = dict(self.data.get("drift", {}))
        if "auto" in drift:
            drift["auto"] = dict(drift["auto"])
        return DriftSettings(**drift)

    @property
    def embedding_model(self) -> ModelSpec | None:
        """The model named by `embedding_model`, or None when there is none; an unknown name is an error located
        at that line of promptguard.yaml."""
        name = self.data.get("embedding_model")
        if name is None:
            return None
        try:
            return self.model(name)
        except PromptguardError as exc:
            exc.message = f"embedding_model: {exc.message}"
            raise exc.located(self.path, self.data.lines.get("embedding_model")) from None

    @property
    def judge(self) -> dict[str, Any]:
        """`judge:` settings: {model, prompt}, each optional."""
        return dict(self.data.get("judge", {}))

    @property
    def default_models(self) -> list[str]:
        return list(self.data.get("default_models", []))

    def line_of_model(self, name: str) -> int | None:
        models = self.data.get("models", YamlMap())
        return models.lines.get(name) if isinstance(models, YamlMap) else None

    def model(self, name: str) -> ModelSpec:
        """The spec of model `name`; raises a PromptguardError that says where models are defined."""
        if name in self._models:
            return self._models[name]
        models = self.data.get("models", {})
        if name not in models:
            if self.path is None:
                raise PromptguardError(
                    f"unknown model '{name}': no {CONFIG_NAME} found",
                    hint=f"create {CONFIG_NAME} beside the suite (or above it) with a 'models' section, "
                    "or pass --promptguard-config PATH",
                )
            known = ", ".join(models) or "none"
            raise PromptguardError(
                f"unknown model '{name}'{suggest(name, list(models))}",
                hint=f"define it under 'models' in {display_path(self.path)} (defined there: {known})",
            )
        line = self.line_of_model(name)
        raw = interpolate(models[name], self.path, line)
        lines = getattr(models[name], "lines", {})
        provider = raw["provider"]
        spec = ModelSpec(
            name=name,
            provider=provider,
            model=raw.get("model"),
            base_url=(raw.get("base_url") or DEFAULT_BASE_URLS.get(provider) or "").rstrip("/") or None,
            api_key_env=raw.get("api_key_env"),
            params=dict(raw.get("params", {})),
            timeout_s=float(raw.get("timeout_s", DEFAULT_TIMEOUT_S)),
            callable=raw.get("callable"),
            max_concurrency=int(raw.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)),
            retries=int(raw.get("retries", DEFAULT_RETRIES)),
            max_backoff_s=float(raw.get("max_backoff_s", DEFAULT_MAX_BACKOFF_S)),
            rpm=raw.get("rpm"),
            tpm=raw.get("tpm"),
            price=self._price(raw, lines.get("price", line)),
            price_provider=self._price_provider(raw, lines.get("price_provider", line)),
            stream=self._stream(name, raw, lines.get("stream", line)),
            transport=raw.get("transport", DEFAULT_TRANSPORT),
            source=self.path,
            line=lines.get("callable", line),
        )
        self._models[name] = spec
        return spec

    def _stream(self, name: str, raw: dict[str, Any], line: int | None) -> bool:
        """`stream: true`, refused for a `python` callable: it returns its answer whole, so there is no first
        token to time, and a time-to-first-token bound on it could only ever be wrong."""
        stream = bool(raw.get("stream", False))
        if stream and raw["provider"] == "python":
            raise PromptguardError(
                f"model '{name}': stream: true needs a provider that streams, and a python callable returns "
                "its answer whole (there is no first token to time)",
                path=self.path,
                line=line,
                hint="remove 'stream: true' from this model, or stream from an openai, anthropic, gemini or ollama "
                "model",
            )
        return stream

    def _price(self, raw: dict[str, Any], line: int | None) -> Price | None:
        if "price" not in raw:
            return None
        try:
            where = display_path(self.path) + (f":{line}" if line else "") if self.path is not None else "config"
            return price_from_spec(raw["price"], source=f"price: in {where}")
        except PromptguardError as exc:
            raise exc.located(self.path, line) from None

    def _price_provider(self, raw: dict[str, Any], line: int | None) -> str | None:
        """The snapshot's id for `price_provider` (an alias the source knows, such as bedrock, becomes its id)."""
        name = raw.get("price_provider")
        if name is None:
            return None
        found = find_provider(name)
        if found is None:
            raise PromptguardError(
                f"price_provider: no provider '{name}' in the price snapshot ({source_label()})"
                f"{suggest(name, provider_ids())}",
                path=self.path,
                line=line,
                hint=f"use one of: {', '.join(sorted(provider_ids()))}; or give the model its own price: "
                "{input_per_mtok, output_per_mtok}",
            )
        return found


def _check_base_urls(data: YamlMap, path: Path) -> None:
    """Every model's `base_url` is an http(s) address with a host; one whose `${VAR}` is unset is reported when the
    model is used (a model no suite uses may name a variable only some machines set), an empty one means the
    provider's default."""
    for name, raw in data.get("models", {}).items():
        line = line_of(data, ["models", name, "base_url"])
        try:
            url = interpolate(raw.get("base_url") or "", path, line)
        except PromptguardError:
            continue
        if url:
            check_base_url(name, raw["base_url"], url, path, line)


def _extend_pythonpath(data: YamlMap, path: Path) -> None:
    """Put the config's `pythonpath` folders first on sys.path, so `python` callables and checks import."""
    for index, folder in enumerate(data.get("pythonpath", [])):
        if "\0" in folder:  # the OS refuses to look such a path up
            raise PromptguardError(
                f"pythonpath entry {folder!r} has a NUL character",
                path=path,
                line=line_of(data, ["pythonpath", index]),
                hint="correct the folder's path",
            )
        entry = str((path.parent / folder).resolve())
        if entry not in sys.path:
            sys.path.insert(0, entry)


class ConfigFinder:
    """Finds the config that applies to a suite: `--promptguard-config`, else the nearest one up to rootdir."""

    def __init__(
        self, rootdir: Path, override: Path | None = None, candidates: Mapping[str, str] | None = None
    ) -> None:
        self.rootdir = rootdir.resolve()
        self.override = override
        self.candidates = dict(candidates or {})  # model -> the candidate replacing it, checked in every config
        self._loaded: dict[Path | None, Config] = {}

    @property
    def loaded(self) -> list[Config]:
        return list(self._loaded.values())

    def _get(self, path: Path | None) -> Config:
        if path not in self._loaded:
            found = (
                Config.load(path, self.rootdir, self.candidates)
                if path is not None
                else Config(None, rootdir=self.rootdir)
            )
            self._loaded[path] = found
        return self._loaded[path]

    def for_suite(self, suite_path: Path) -> Config:
        if self.override is not None:  # checked to exist when the run starts
            return self._get(self.override.resolve())
        folder = suite_path.resolve().parent
        while True:
            candidate = folder / CONFIG_NAME
            if candidate.is_file():
                return self._get(candidate)
            if folder == self.rootdir or folder.parent == folder or self.rootdir not in folder.parents:
                return self._get(None)
            folder = folder.parent
