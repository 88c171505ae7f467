"""One promptguard run in one process: configs, suites, providers, the scheduler, goldens and results."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .board import Board
from .cache import ResponseCache
from .config import Config, ConfigFinder, DriftSettings, ModelSpec
from .errors import PromptguardError
from .goldenbook import GoldenBook
from .modelchecks import CheckModels, new_ledger
from .providers import Provider, make_provider, unsupported
from .providers.local_embeddings import refuse_chat
from .results import Call, CallError, CaseResult, Request
from .scheduler import Budget, Scheduler
from .suite import Case, Suite, load_suite

if TYPE_CHECKING:
    import pytest

    from .checks import GoldenRef
    from .items import PromptItem


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked of this run."""

    concurrency: int
    config: Path | None = None
    repeat: int | str | None = None  # a number, or "auto"
    max_cost_usd: float | None = None
    cache_dir: Path | None = None  # None: the response cache is off
    cache_ttl_s: float = 0.0
    update: bool = False
    update_baselines: bool = False
    replay: bool = False
    strict: bool = False
    candidates: dict[str, str] = field(default_factory=dict)  # model -> the candidate that replaces it
    latency_tolerance: float | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Planned:
    """One item to be: a case, the model called, and the model whose goldens judge it."""

    case: Case
    spec: ModelSpec
    provider: Provider
    baseline: ModelSpec  # `spec` itself, or the model that a `--promptguard-candidate` replaces
    drift: DriftSettings

    @cached_property
    def request(self) -> Request:
        return request_for(self.case, self.spec)

    @property
    def baseline_samples(self) -> int:
        """Samples `--promptguard-update` records: the suite's, the config's, else 1 at temperature 0 and 5
        otherwise (a nondeterministic model needs a spread to compare with)."""
        if self.case.baseline_samples is not None:
            return self.case.baseline_samples
        if self.drift.baseline_samples is not None:
            return self.drift.baseline_samples
        temperature = {**self.spec.params, **self.case.params}.get("temperature")
        return 1 if temperature == 0 else 5

    @cached_property
    def golden_digest(self) -> str:
        """The hash a golden of this case must carry to be current: the baseline model's request."""
        return request_for(self.case, self.baseline).digest()


def request_for(case: Case, spec: ModelSpec) -> Request:
    return Request(
        model=spec.name,
        provider=spec.provider,
        model_id=spec.model or spec.callable,
        messages=case.messages,
        params={**spec.params, **case.params},
        turns=case.turns,
        tools=case.tools,
        tool_choice=case.tool_choice,
        response_format=case.response_format,
    )


def replayed(golden: "GoldenRef", spec: ModelSpec, request: Request, samples: int) -> list[Call]:
    """`samples` calls answering as the golden recorded them, or one error call saying why it cannot be replayed."""
    problem = golden.unusable()
    if problem is not None or golden.entry is None:
        error = CallError("replay", f"cannot replay: {problem}")
        return [Call(model=spec.name, provider=spec.provider, model_asked=request.model_id, source="replay", error=error)]
    return golden.entry.replayed_calls(spec.name, spec.provider, samples)


def _refuse_unsupported(plan: Planned, path: Path) -> None:
    """A request its provider cannot send (a tool_choice Ollama has no field for) is a collection error of the
    case, not a call that fails, or silently runs without what the suite asked for."""
    problem = unsupported(plan.request)
    if problem is not None:
        message, hint = problem
        raise PromptguardError(f"model '{plan.spec.name}' ({plan.spec.provider}): {message}", path=path,
                               line=plan.case.line, case=plan.case.id, hint=hint)


class Run:
    def __init__(self, rootdir: Path, options: RunOptions) -> None:
        self.rootdir = rootdir
        self.options = options
        self.configs = ConfigFinder(rootdir, options.config)
        cache = ResponseCache(options.cache_dir, options.cache_ttl_s) if options.cache_dir else None
        self.scheduler = Scheduler(options.concurrency, cache)
        self.goldens = GoldenBook(rootdir, update=options.update, refresh_baselines=options.update_baselines)
        self.board = Board(self)
        self.repeat = options.repeat
        self.budget = Budget(options.max_cost_usd, "--promptguard-max-cost") if options.max_cost_usd is not None else None
        self.results: list[CaseResult] = []
        self.collect_errors = 0
        self._providers: dict[tuple[Path | None, str], Provider] = {}
        self._suite_budgets: dict[Path, Budget] = {}
        self._live_calls: dict[tuple[Path, str], list[Call]] = defaultdict(list)
        self._loaded: dict[Path, tuple[Suite, list[Planned]]] = {}
        # What checks asked of models (see modelchecks.py): answers kept for the run, and each case's calls.
        self.embeddings: dict[tuple[str, str | None, str], list[float]] = {}
        self.gradings: dict[tuple[str, str | None], Call] = {}
        self.check_ledger = new_ledger()

    def load(self, path: Path) -> tuple[Suite, list[Planned]]:
        """A suite and its items to be; raises PromptguardError on bad input (the suite's or its golden file's)."""
        config = self.configs.for_suite(path)
        suite = load_suite(path, config, CheckModels(self, config, path.resolve()))
        planned = []
        for case in suite.cases:
            for name in case.models:
                baseline = config.model(name)
                spec = self._candidate(config, name) if name in self.options.candidates else baseline
                refuse_chat(spec, config.path)  # an embedding-only model cannot answer the case's prompt
                plan = Planned(case, spec, self._provider(config, spec), baseline, config.drift)
                _refuse_unsupported(plan, path)
                planned.append(plan)
        self.goldens.file(suite)  # a golden file that cannot be read is this suite's collection error
        self._loaded[path.resolve()] = (suite, planned)
        return suite, planned

    def _candidate(self, config: Config, model: str) -> ModelSpec:
        candidate = self.options.candidates[model]
        try:
            return config.model(candidate)
        except PromptguardError as exc:
            exc.message = f"--promptguard-candidate {model}={candidate}: {exc.message}"
            raise

    def _provider(self, config: Config, spec: ModelSpec) -> Provider:
        key = (config.path, spec.name)
        if key not in self._providers:
            try:
                self._providers[key] = make_provider(spec)
            except PromptguardError as exc:
                raise exc.located(config.path, spec.line) from None
        return self._providers[key]

    def provider_of(self, config: Config, spec: ModelSpec) -> Provider:
        """The provider of a model a check asks (a grader, an embedding model)."""
        return self._provider(config, spec)

    def budgets_of(self, path: Path) -> tuple[Budget, ...]:
        """The budgets of the suite file at `path` (the run's alone before it is loaded)."""
        loaded = self._loaded.get(path.resolve())
        if loaded is not None:
            return self.budgets(loaded[0])
        return (self.budget,) if self.budget else ()

    def take_check_calls(self, path: Path, case: str, model: str) -> list[dict]:
        """The calls the checks of one case × model made (see modelchecks.py), taken off the ledger."""
        return self.check_ledger.pop((str(path.resolve()), case, model), [])

    def budgets(self, suite: Suite) -> tuple[Budget, ...]:
        budgets = [self.budget] if self.budget else []
        if suite.budget_usd is not None:
            if suite.path not in self._suite_budgets:
                self._suite_budgets[suite.path] = Budget(suite.budget_usd, f"budget_usd of suite '{suite.name}'")
            budgets.append(self._suite_budgets[suite.path])
        return tuple(budgets)

    def submit(self, item: "PromptItem") -> None:
        if not self.options.replay:
            self.scheduler.submit(item.nodeid, item.provider, item.request, item.samples, self.budgets(item.suite))

    def calls_for(self, item: "PromptItem") -> list[Call]:
        """The item's calls: from the scheduler, or, when replaying, from its golden."""
        if not self.options.replay:
            self._start(item)
            return self.board.calls(item) if item in self.board else self.scheduler.calls(item.nodeid)
        return replayed(item.golden_ref(), item.spec, item.request, item.samples)

    def model_for(self, path: Path, name: str) -> tuple[Config, ModelSpec, Provider]:
        """Model `name` as the promptguard.yaml that applies to `path` defines it, and its provider (for the
        `promptguard` fixture's calls); raises PromptguardError as a suite naming it would."""
        config = self.configs.for_suite(path)
        spec = config.model(name)
        return config, spec, self._provider(config, spec)

    def fixture_calls(self, key: str, provider: Provider, request: Request, samples: int, golden: "GoldenRef") -> list[Call]:
        """The samples of one `promptguard.call(...)` of a Python test: through the scheduler (the run's
        limits, retries, budget, cache), or, when replaying, from its golden."""
        if self.options.replay:
            return replayed(golden, provider.spec, request, samples)
        self.scheduler.submit(key, provider, request, samples, (self.budget,) if self.budget else ())
        return self.scheduler.calls(key)

    def _start(self, item: "PromptItem") -> None:
        """Start the item's calls: on the verdict board when it is judged against a sampled baseline."""
        entry = item.sampled_baseline()
        if entry is not None:
            self.board.add(item, entry)
        else:
            self.submit(item)

    def prime(self, items: Iterable["pytest.Item"], selected: Iterable["pytest.Item"] = ()) -> None:
        """Start every given item's calls now, in item order; skipped items are never called. `selected` is
        the whole run's selection (under xdist a worker primes only its share), to count the tested cases."""
        from .items import PromptItem

        self.board.plan([i for i in selected if isinstance(i, PromptItem) and i.get_closest_marker("skip") is None])
        for item in items:
            if isinstance(item, PromptItem) and item.get_closest_marker("skip") is None and not self.options.replay:
                self._start(item)

    def record_calls(self, suite: Suite, model: str, calls: list[Call]) -> None:
        """Remember the timed calls for the suite's SLO item (which runs in the same process): it judges their
        latency and their time to first token."""
        self._live_calls[(suite.path, model)] += [c for c in calls if c.timed]

    def live_calls(self, suite: Suite, model: str) -> list[Call]:
        return self._live_calls[(suite.path, model)]

    def finish(self) -> None:
        """At session end, in the one process that saw every result: record goldens, find unused ones."""
        self.goldens.finish(self.results, self._plans_of, self._drift_of)

    def _drift_of(self, nodeid_path: str) -> DriftSettings:
        """The drift settings of the promptguard.yaml that applies to a Python test file (its fixture goldens)."""
        try:
            return self.configs.for_suite(self.rootdir / nodeid_path).drift
        except PromptguardError:
            return DriftSettings()  # the test that used it failed on it already

    def _plans_of(self, nodeid_path: str) -> tuple[Suite, list[Planned]] | None:
        """The suite as collected in this process, or (on the xdist controller, which collects nothing) loaded now."""
        path = (self.rootdir / nodeid_path).resolve()
        if path in self._loaded:
            return self._loaded[path]
        try:
            return self.load(path)
        except PromptguardError:
            return None  # reported as a collection error already

    def close(self) -> None:
        self.scheduler.close()
