"""One promptguard run in one process: configs, suites, providers, the scheduler, and collected results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .config import Config, ConfigFinder, ModelSpec
from .errors import PromptguardError
from .providers import Provider, make_provider
from .results import CaseResult
from .scheduler import Scheduler
from .suite import Case, Suite, load_suite

if TYPE_CHECKING:
    import pytest

    from .items import PromptItem


class Run:
    def __init__(self, rootdir: Path, config_override: Path | None = None) -> None:
        self.configs = ConfigFinder(rootdir, config_override)
        self.scheduler = Scheduler()
        self.results: list[CaseResult] = []
        self.collect_errors = 0
        self._providers: dict[tuple[Path | None, str], Provider] = {}

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

    def submit(self, item: "PromptItem") -> None:
        self.scheduler.submit(item.nodeid, item.provider, item.request, item.samples)

    def prime(self, items: Iterable["pytest.Item"]) -> None:
        """Start every selected item's calls now, in item order; skipped items are never called."""
        from .items import PromptItem

        for item in items:
            if isinstance(item, PromptItem) and item.get_closest_marker("skip") is None:
                self.submit(item)

    def close(self) -> None:
        self.scheduler.close()
