"""One promptguard run in one process: configs, suites, providers, the scheduler, and collected results."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .cache import ResponseCache
from .config import Config, ConfigFinder, ModelSpec
from .errors import PromptguardError
from .providers import Provider, make_provider
from .results import Call, CaseResult
from .scheduler import Budget, Scheduler
from .suite import Case, Suite, load_suite

if TYPE_CHECKING:
    import pytest

    from .items import PromptItem


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked of this run."""

    concurrency: int
    config: Path | None = None
    repeat: int | None = None
    max_cost_usd: float | None = None
    cache_dir: Path | None = None  # None: the response cache is off
    cache_ttl_s: float = 0.0


class Run:
    def __init__(self, rootdir: Path, options: RunOptions) -> None:
        self.configs = ConfigFinder(rootdir, options.config)
        cache = ResponseCache(options.cache_dir, options.cache_ttl_s) if options.cache_dir else None
        self.scheduler = Scheduler(options.concurrency, cache)
        self.repeat = options.repeat
        self.budget = Budget(options.max_cost_usd, "--promptguard-max-cost") if options.max_cost_usd is not None else None
        self.results: list[CaseResult] = []
        self.collect_errors = 0
        self._providers: dict[tuple[Path | None, str], Provider] = {}
        self._suite_budgets: dict[Path, Budget] = {}
        self._latencies: dict[tuple[Path, str], list[float]] = defaultdict(list)

    def load(self, path: Path) -> tuple[Suite, list[tuple[Case, ModelSpec, Provider]]]:
        """A suite and its expansion into (case, model, provider); raises PromptguardError on bad input."""
        config = self.configs.for_suite(path)
        suite = load_suite(path, config)
        expanded = []
        for case in suite.cases:
            for name in case.models:
                spec = config.model(name)
                expanded.append((case, spec, self._provider(config, spec)))
        return suite, expanded

    def _provider(self, config: Config, spec: ModelSpec) -> Provider:
        key = (config.path, spec.name)
        if key not in self._providers:
            try:
                self._providers[key] = make_provider(spec)
            except PromptguardError as exc:
                raise exc.located(config.path, spec.line) from None
        return self._providers[key]

    def _budgets(self, suite: Suite) -> tuple[Budget, ...]:
        budgets = [self.budget] if self.budget else []
        if suite.budget_usd is not None:
            if suite.path not in self._suite_budgets:
                self._suite_budgets[suite.path] = Budget(suite.budget_usd, f"budget_usd of suite '{suite.name}'")
            budgets.append(self._suite_budgets[suite.path])
        return tuple(budgets)

    def submit(self, item: "PromptItem") -> None:
        self.scheduler.submit(item.nodeid, item.provider, item.request, item.samples, self._budgets(item.suite))

    def prime(self, items: Iterable["pytest.Item"]) -> None:
        """Start every given item's calls now, in item order; skipped items are never called."""
        from .items import PromptItem

        for item in items:
            if isinstance(item, PromptItem) and item.get_closest_marker("skip") is None:
                self.submit(item)

    def record_calls(self, suite: Suite, model: str, calls: list[Call]) -> None:
        """Remember live latencies for the suite's SLO item (which runs in the same process)."""
        self._latencies[(suite.path, model)] += [c.latency_ms for c in calls if c.error is None and c.source == "live"]

    def live_latencies(self, suite: Suite, model: str) -> list[float]:
        return self._latencies[(suite.path, model)]

    def close(self) -> None:
        self.scheduler.close()
