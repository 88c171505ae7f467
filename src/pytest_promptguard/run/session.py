"""One promptguard run in one process: configs, suites, providers, the scheduler, goldens and results.

The plugin makes one Run per process from the command line's options (plugin/options.py) and hands it what
pytest collected; everything else, the judging of every case included (judging.py), is pytest-free.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..call.cache import ResponseCache
from ..call.scheduler import Budget, Scheduler
from ..checks import GoldenRef
from ..checks.models import CheckModels, ModelAccess
from ..config.loader import Config, ConfigFinder, DriftSettings, ModelSpec
from ..core.errors import PromptguardError
from ..core.results import Call, CaseResult, Request
from ..drift.board import Board
from ..golden.book import GoldenBook, PlannedGolden, SuiteGoldens
from ..providers import Provider, make_provider, unsupported
from ..providers.local_embeddings import refuse_chat
from ..suite.loader import Suite, load_suite
from .golden_view import replayed
from .judging import CaseJudge, Judging
from .options import RunOptions
from .plan import Planned


class Run:
    def __init__(self, rootdir: Path, options: RunOptions) -> None:
        self.rootdir = rootdir
        self.options = options
        self.configs = ConfigFinder(rootdir, options.config, options.candidates)
        cache = ResponseCache(options.cache_dir, options.cache_ttl_s) if options.cache_dir else None
        self.scheduler = Scheduler(options.concurrency, cache)
        self.goldens = GoldenBook(rootdir, update=options.update, refresh_baselines=options.update_baselines)
        self.board = Board()
        self.budget = (
            Budget(options.max_cost_usd, "--promptguard-max-cost") if options.max_cost_usd is not None else None
        )
        self.models = ModelAccess(self.scheduler, self._provider, self.budgets_of, replay=options.replay)
        self.judging = Judging(
            options,
            self.scheduler,
            self.board,
            self.goldens,
            self.models,
            lambda path: self.check_models(self.configs.for_suite(path), path),
            self.budgets,
            self.record_calls,
        )
        self.results: list[CaseResult] = []
        self.suite_verdicts: list[dict[str, Any]] = []  # of the suites' drift items (drift/board.py)
        self.collect_errors = 0
        self._providers: dict[tuple[Path | None, str], Provider] = {}
        self._suite_budgets: dict[Path, Budget] = {}
        self._live_calls: dict[tuple[Path, str], list[Call]] = defaultdict(list)
        self._loaded: dict[Path, tuple[Suite, list[Planned]]] = {}

    def load(self, path: Path) -> tuple[Suite, list[Planned]]:
        """A suite and its items to be; raises PromptguardError on bad input (the suite's or its golden file's)."""
        config = self.configs.for_suite(path)
        suite = load_suite(path, config, self.check_models(config, path))
        planned = []
        for case in suite.cases:
            for name in case.models:
                baseline = config.model(name)
                spec = self._candidate(config, name) if name in self.options.candidates else baseline
                refuse_chat(spec, config.path)  # an embedding-only model cannot answer the case's prompt
                plan = Planned(case, spec, self._provider(config, spec), baseline, config.drift)
                _refuse_unsupported(plan, path)
                planned.append(plan)
        self.goldens.file(suite.path, suite.name)  # a golden file that cannot be read is this suite's collection error
        self._loaded[path.resolve()] = (suite, planned)
        return suite, planned

    def judge(self, suite: Suite, plan: Planned, key: str, suite_key: str) -> CaseJudge:
        """The judge of one planned case × model; `key` names it in the run (the item's node id), `suite_key` its
        suite file (the node id of the file)."""
        return CaseJudge(self.judging, suite, plan, key, suite_key)

    def check_models(self, config: Config, path: Path) -> CheckModels:
        """The models the checks of the file at `path` may ask (graders, the embedding model)."""
        return CheckModels(self.models, config, path.resolve())

    def unknown_candidates(self) -> str | None:
        """After collection: the `--promptguard-candidate MODEL=...` whose MODEL no loaded promptguard.yaml defines
        (a typo would otherwise run without the candidate, silently); None when every one is defined somewhere."""
        configs = self.configs.loaded
        if not configs:
            return None
        defined = {name for config in configs for name in config.model_names}
        candidates = self.options.candidates.items()
        unknown = [f"{model}={candidate}" for model, candidate in candidates if model not in defined]
        if not unknown:
            return None
        names = ", ".join(sorted(defined)) or "none"
        return (
            f"--promptguard-candidate {', '.join(unknown)}: no promptguard.yaml of the collected suites defines "
            f"{'that model' if len(unknown) == 1 else 'those models'} (defined: {names}); name a model the suites use"
        )

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

    def budgets_of(self, path: Path) -> tuple[Budget, ...]:
        """The budgets of the suite file at `path` (the run's alone before it is loaded, or for a Python test)."""
        loaded = self._loaded.get(path.resolve())
        if loaded is not None:
            return self.budgets(loaded[0])
        return (self.budget,) if self.budget else ()

    def budgets(self, suite: Suite) -> tuple[Budget, ...]:
        budgets = [self.budget] if self.budget else []
        if suite.budget_usd is not None:
            if suite.path not in self._suite_budgets:
                self._suite_budgets[suite.path] = Budget(suite.budget_usd, f"budget_usd of suite '{suite.name}'")
            budgets.append(self._suite_budgets[suite.path])
        return tuple(budgets)

    def model_for(self, path: Path, name: str) -> tuple[Config, ModelSpec, Provider]:
        """Model `name` as the promptguard.yaml that applies to `path` defines it, and its provider (for the
        `promptguard` fixture's calls); raises PromptguardError as a suite naming it would."""
        config = self.configs.for_suite(path)
        spec = config.model(name)
        return config, spec, self._provider(config, spec)

    def fixture_calls(
        self, key: str, provider: Provider, request: Request, samples: int, golden: GoldenRef
    ) -> list[Call]:
        """The samples of one `promptguard.call(...)` of a Python test: through the scheduler (the run's
        limits, retries, budget, cache), or, when replaying, from its golden."""
        if self.options.replay:
            return replayed(golden, provider.spec, request, samples)
        self.scheduler.submit(key, provider, request, samples, (self.budget,) if self.budget else ())
        return self.scheduler.calls(key)

    def prime(self, judges: Iterable[CaseJudge], selected: Iterable[CaseJudge] = ()) -> None:
        """Start every given case's calls now, in order. `selected` is the whole run's selection (under xdist a
        worker primes only its share), to count the tested cases. Skipped cases are given in neither."""
        for judge in selected:
            if judge.sampled_baseline() is not None:
                self.board.count(judge.drift.alpha, judge.group)
        if not self.options.replay:
            for judge in judges:
                judge.start_calls()

    def record_calls(self, suite: Suite, model: str, calls: list[Call]) -> None:
        """Remember the timed calls for the suite's SLO item (which runs in the same process): it judges their
        latency and their time to first token."""
        self._live_calls[(suite.path, model)] += [c for c in calls if c.timed]

    def live_calls(self, suite: Suite, model: str) -> list[Call]:
        return self._live_calls[(suite.path, model)]

    def finish(self) -> None:
        """At session end, in the one process that saw every result: record goldens, find unused ones."""
        self.goldens.finish(self.results, self._goldens_of, self._drift_of)

    def _drift_of(self, nodeid_path: str) -> DriftSettings:
        """The drift settings of the promptguard.yaml that applies to a Python test file (its fixture goldens)."""
        try:
            return self.configs.for_suite(self.rootdir / nodeid_path).drift
        except PromptguardError:
            return DriftSettings()  # the test that used it failed on it already

    def _goldens_of(self, nodeid_path: str) -> SuiteGoldens | None:
        """The suite as collected in this process, or (on the xdist controller, which collects nothing) loaded now."""
        path = (self.rootdir / nodeid_path).resolve()
        if path not in self._loaded:
            try:
                self.load(path)
            except PromptguardError:
                return None  # reported as a collection error already
        suite, planned = self._loaded[path]
        cases = [PlannedGolden(p.case.id, p.spec.name, p.baseline.name, p.drift, bool(p.case.skip)) for p in planned]
        return SuiteGoldens(suite.path, suite.name, cases)

    def close(self) -> None:
        self.scheduler.close()


def _refuse_unsupported(plan: Planned, path: Path) -> None:
    """A request its provider cannot send (a tool_choice Ollama has no field for) is a collection error of the
    case, not a call that fails, or silently runs without what the suite asked for."""
    problem = unsupported(plan.request)
    if problem is not None:
        message, hint = problem
        raise PromptguardError(
            f"model '{plan.spec.name}' ({plan.spec.provider}): {message}",
            path=path,
            line=plan.case.line,
            case=plan.case.id,
            hint=hint,
        )
