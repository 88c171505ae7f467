"""What a model is and how drift is judged, as promptguard.yaml says (loader.py reads them): the records every
stage that calls or judges a model reads, kept apart from the loading so that providers import only these."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.results import Request
from .pricing import Price

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_RETRIES = 3
DEFAULT_MAX_BACKOFF_S = 30.0
DEFAULT_AUTO_MIN, DEFAULT_AUTO_MAX = 2, 20
DEFAULT_TRANSPORT = "aiohttp"  # what carries a model's HTTP calls; "httpx": httpx's own (docs/speed.md)


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
    latency_tolerance: float | None = None  # p95 growth; None: latency is not part of the verdict
    flaky: str = "report"  # or "fail"
    inconclusive: str = "report"  # or "fail"
    baseline_samples: int | None = None  # None: 1 at temperature 0, else 20
    max_baseline_samples: int = 60  # the most a baseline grows to with --promptguard-top-up
    auto: dict[str, int] = field(default_factory=dict)  # {min, max} of repeat: auto

    @property
    def auto_min(self) -> int:
        return self.auto.get("min", DEFAULT_AUTO_MIN)

    @property
    def auto_max(self) -> int:
        return max(self.auto.get("max", DEFAULT_AUTO_MAX), self.auto_min)
