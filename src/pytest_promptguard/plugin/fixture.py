"""The `promptguard` fixture: Python tests call models and run checks with the suites' machinery.

    def test_summary_keeps_the_numbers(promptguard):
        call = promptguard.call("fast", [{"role": "user", "content": "Summarise: revenue was $4.2M"}])
        promptguard.check(call, contains="4.2", golden=True, latency={"max_ms": 2000})

- A call goes through the run's scheduler (concurrency and rate limits, retries, budget, cache, pricing) to the
  model that the promptguard.yaml nearest the test file (or `--promptguard-config`) defines. A provider failure
  fails the test with the suites' explanation (`ModelCallFailed`, no traceback).
- A check is any registered check with the argument a suite would give it; a wrong one is a
  `CheckArgumentError` naming the check and its schema, a failing one fails the test with the suites' failure
  text (`ChecksFailed`). Several checks of one test accumulate in its result.
- Checks that call models themselves (`judge`, `semantic`, `golden: {method: semantic}`) ask the graders and the
  embedding model of the same promptguard.yaml, through the run (modelchecks.py: scheduler, caches, ledger), as a
  suite's do: their calls land in the result's `check_calls` (judge and embedding cost in the reports, judge
  scores in the goldens), and a grader or embedding model that fails (`CheckCallError`) fails the test as a
  provider failure does (`ModelCallFailed`, an error of the test, not a failed check).
- The test's calls and check results make one CaseResult (suite: the test module, case: the test), put on its
  report by the run's makereport hook (`attach_fixture_result`), so the controller's summary, reports and
  goldens include the test, under xdist too.
- Each call has a golden in `__golden__/<test module>.golden.yaml`, keyed by the test (`test_x`, `test_x#2` for
  its second call of the same model) and the model: recorded at session end by the GoldenBook with
  `--promptguard-update`, answering the call with `--promptguard-replay`, stale when the request changed.

The plugin's fixture function (plugin.py) imports this module only when a test uses the fixture in earnest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from ..checks import (
    BuildContext,
    BuiltCheck,
    CaseInfo,
    CaseInput,
    CheckInput,
    GoldenRef,
)
from ..checks.models import CheckCallError
from ..config.loader import DriftSettings
from ..core.errors import PromptguardError
from ..core.results import Call, CaseResult, CheckResult, Request
from ..report.failure import explain_call_errors, explain_check_failure
from ..run.golden_view import golden_summary, model_change
from ..run.judging import CallsFailed, recorded_by_meaning
from .fixture_args import CheckArgumentError, PromptguardFixtureError, build_named, messages_of, samples_of
from .fixture_report import FIXTURE
from .options import run_of
from .outcomes import ChecksFailed, ModelCallFailed

if TYPE_CHECKING:
    from ..config.loader import Config, ModelSpec
    from ..providers import Provider
    from ..run.session import Run

__all__ = ["CheckArgumentError", "PromptGuard", "PromptguardFixtureError"]


@dataclass(frozen=True)
class FixtureCall:
    """One `promptguard.call(...)`: its golden key, its request, the golden it is judged against, and where its
    samples sit in the test's calls."""

    case: str  # the golden key: the test, then `#2`, `#3` for its later calls of the same model
    model: str
    request: Request
    golden: GoldenRef
    drift: DriftSettings
    first: int
    count: int

    def holds(self, index: int) -> bool:
        return self.first <= index < self.first + self.count

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "model": self.model,
            "request_digest": self.request.digest(),
            "first": self.first,
            "count": self.count,
        }


class PromptGuard:
    """The `promptguard` fixture of one test: `call` models, `check` what they answered."""

    def __init__(self, item: pytest.Item, run: Run) -> None:
        self._item, self._run = item, run
        self._file, _, self._test = item.nodeid.partition("::")
        self._calls: list[FixtureCall] = []
        self._index: dict[int, int] = {}  # id(Call) -> its place in the result's calls
        self._context: BuildContext | None = None
        self._check_error = False  # a model a check called failed: the test is an error, as for a provider failure
        self.result: CaseResult | None = None  # what the test learned so far; None before its first call

    @classmethod
    def for_test(cls, item: pytest.Item) -> PromptGuard:
        fixture = cls(item, run_of(item.config))
        item.stash[FIXTURE] = fixture
        return fixture

    def __repr__(self) -> str:
        calls = len(self.result.calls) if self.result is not None else 0
        return f"<promptguard fixture of {self._item.nodeid}: {calls} call{'s' if calls != 1 else ''}>"

    def call(
        self,
        model: str,
        messages: str | Sequence[Mapping[str, Any]],
        *,
        params: Mapping[str, Any] | None = None,
        repeat: int | None = None,
    ) -> Call | list[Call]:
        """Call `model` (a name from promptguard.yaml) with `messages` (a string is one user message) and
        `params` merged over the model's. Returns the Call; with `repeat=N`, a list of N Calls (samples)."""
        __tracebackhide__ = True
        samples, request_messages = samples_of(repeat), messages_of(messages)
        if params is not None and not isinstance(params, Mapping):
            raise PromptguardFixtureError(f"promptguard.call: params must be a dict, got {type(params).__name__}")
        config, spec, provider = self._model(model)
        request = spec.request(request_messages, dict(params or {}))
        case = self._golden_key(spec.name)
        golden = self._golden_ref(case, spec.name, request)
        key = f"{self._item.nodeid}::promptguard.call#{len(self._calls) + 1}"
        calls = self._run.fixture_calls(key, provider, request, samples, golden)
        made = FixtureCall(case, spec.name, request, golden, config.drift, first=self._first_free(), count=len(calls))
        result = self._add(made, calls)
        if any(c.error for c in calls):
            raise ModelCallFailed(explain_call_errors(calls))
        fatal = self._run.options.strict or config.drift.model_change == "fail"
        change = model_change(golden, calls[0], spec.name, fatal)
        if change is not None:
            result.case_checks.append(change)
            if not change.passed:
                raise ChecksFailed(
                    explain_check_failure(self._view(range(made.first, made.first + made.count), [change]))
                )
        return list(calls) if repeat is not None else calls[0]

    def check(self, call: Call | Sequence[Call], /, **checks: Any) -> list[CheckResult]:
        """Run the named checks on a Call (or on a list of them: every sample; latency and cost over them all),
        with the arguments a suite gives them: `check(call, contains="4.2", latency={"max_ms": 2000})`.
        Returns the results; fails the test when one fails."""
        __tracebackhide__ = True
        indexes = self._indexes(call)
        if not checks:
            raise PromptguardFixtureError(
                "promptguard.check: name at least one check, e.g. promptguard.check(call, contains='4.2')"
            )
        built = []
        for name, argument in checks.items():  # not a comprehension: its frame would show in the traceback
            built.append(build_named(name, argument, self._build_context()))
        result = self.result
        assert result is not None
        info = CaseInfo(suite=result.suite, id=result.case)
        # Checks that call a model (a grader, an embedding model) may fail to: then nothing of this `check` is
        # kept, and the test is an error with the explanation, as for a provider failure (see items.py).
        try:
            per_sample = []
            for index in indexes:
                given = CheckInput(result.calls[index], info, self._made_at(index).golden)
                per_sample.append([c.run(given) for c in built if c.scope == "call"])
            judged = CaseInput(tuple(result.calls[i] for i in indexes), info, self._golden_of(indexes))
            over_all = [c.run(judged) for c in built if c.scope == "case"]
            self._record_semantic_similarities(built, indexes)
        except CheckCallError as exc:
            self._check_error = True
            raise ModelCallFailed(str(CallsFailed.of_check_model(exc))) from None
        finally:
            self._take_check_calls()
        now: list[CheckResult] = []
        for index, sample in zip(indexes, per_sample):
            result.checks[index] += sample
            now += sample
        result.case_checks += over_all
        if not all(r.passed for r in now + over_all):
            raise ChecksFailed(explain_check_failure(self._view(indexes, over_all)))
        return now + over_all

    # --- calls ------------------------------------------------------------------------------------------

    def _model(self, name: str) -> tuple[Config, ModelSpec, Provider]:
        __tracebackhide__ = True
        if not isinstance(name, str):
            raise PromptguardFixtureError(
                f"promptguard.call: model must be a model's name from promptguard.yaml, got {name!r}"
            )
        try:
            return self._run.model_for(self._item.path, name)
        except PromptguardError as exc:
            raise PromptguardFixtureError(f"promptguard.call: {exc}") from None

    def _golden_key(self, model: str) -> str:
        """`test_x` for the test's first call of `model`, `test_x#2` for its second, ..."""
        made = sum(c.model == model for c in self._calls)
        return self._test if made == 0 else f"{self._test}#{made + 1}"

    def _golden_ref(self, case: str, model: str, request: Request) -> GoldenRef:
        __tracebackhide__ = True
        try:
            entry = self._run.goldens.fixture_file(self._item.path).get(case, model)
        except PromptguardError as exc:
            raise PromptguardFixtureError(f"promptguard.call: {exc}") from None
        return GoldenRef(
            entry=entry,
            stale=entry is not None and entry.request_hash != request.digest(),
            recording=self._run.options.update,
            record_command=f"pytest --promptguard --promptguard-update '{self._item.nodeid}'",
        )

    def _first_free(self) -> int:
        return len(self.result.calls) if self.result is not None else 0

    def _add(self, made: FixtureCall, calls: list[Call]) -> CaseResult:
        """Add a call's samples to the test's result (made at its first call)."""
        if self.result is None:
            self.result = CaseResult(
                suite=self._item.path.name,
                path=self._file,
                case=self._test,
                model=made.model,
                tags=[],
                request_digest=made.request.digest(),
                messages=[dict(m) for m in made.request.messages],
                fixture_calls=[],
            )
        result = self.result
        assert result.fixture_calls is not None
        result.model = "+".join(dict.fromkeys([*(c.model for c in self._calls), made.model]))
        self._calls.append(made)
        for offset, call in enumerate(calls):
            self._index[id(call)] = made.first + offset
        result.calls += calls
        result.checks += [[] for _ in calls]
        result.fixture_calls.append(made.to_dict())
        return result

    # --- checks -----------------------------------------------------------------------------------------

    def _indexes(self, given: Any) -> list[int]:
        """The places in the test's calls of the Call or Calls given to `check`."""
        __tracebackhide__ = True
        calls = [given] if isinstance(given, Call) else list(given) if isinstance(given, (list, tuple)) else None
        result = self.result
        if (
            not calls
            or result is None
            or any(
                not isinstance(c, Call) or id(c) not in self._index or result.calls[self._index[id(c)]] is not c
                for c in calls
            )
        ):
            raise PromptguardFixtureError(
                "promptguard.check: give it a Call that this test's promptguard.call(...) returned, or a list of them "
                f"(got {type(given).__name__})"
            )
        return [self._index[id(c)] for c in calls]

    def _made_at(self, index: int) -> FixtureCall:
        return next(c for c in self._calls if c.holds(index))

    def _golden_of(self, indexes: Sequence[int]) -> GoldenRef:
        """The golden that case-scope checks (latency and cost regressions) compare with: the one call's whose
        samples they judge; none when they judge samples of several calls."""
        made = {id(m): m for m in map(self._made_at, indexes)}
        if len(made) == 1:
            return next(iter(made.values())).golden
        return GoldenRef(entry=None, record_command="(a golden belongs to one promptguard.call)")

    def _build_context(self) -> BuildContext:
        """Where checks are declared: files (JSON Schemas) resolve from the test's folder; defaults from the config;
        the models checks may ask (graders, the embedding model) are the config's, as for a suite beside the test."""
        if self._context is None:
            config = self._run.configs.for_suite(self._item.path)
            drift = config.drift
            self._context = BuildContext(
                self._item.path,
                drift.min_similarity,
                drift.scorer,
                config.rootdir,
                semantic_min=drift.min_semantic,
                models=self._run.check_models(config, self._item.path),
            )
        return self._context

    def _take_check_calls(self) -> None:
        """Take the calls the checks made (graders, embeddings; noted under this test and each model it called)
        off the run's ledger onto the test's result: the reports cost them apart, goldens keep the judge scores."""
        result = self.result
        assert result is not None
        for model in dict.fromkeys(c.model for c in self._calls):
            result.check_calls += self._run.models.take(self._item.path, self._test, model)

    def _record_semantic_similarities(self, built: Sequence[BuiltCheck], indexes: Sequence[int]) -> None:
        """Recording, a sampled call judged by `golden: {method: semantic}` keeps its samples' pairwise semantic
        similarities (100 x cosine) in its `fixture_calls` entry: the golden's canonical output and calibrated min
        are chosen by them at session end, as for a suite's case (items.py), where nothing can be embedded."""
        result = self.result
        if not (
            recorded_by_meaning(built)
            and self._run.options.update
            and result is not None
            and result.fixture_calls is not None
        ):
            return
        models = self._build_context().models
        for made in {id(m): m for m in map(self._made_at, indexes)}.values():
            entry = result.fixture_calls[self._calls.index(made)]
            if made.count < 2 or "semantic_similarities" in entry:
                continue
            texts = [c.text for c in result.calls[made.first : made.first + made.count]]
            entry["semantic_similarities"] = models.similarity_matrix(
                texts, (str(self._item.path.resolve()), self._test, made.model)
            )

    def _view(self, indexes: Sequence[int], case_checks: list[CheckResult]) -> CaseResult:
        """The failure's subject as the suites' failure text explains it: the samples judged, their checks,
        and the prompt of the call they came from."""
        result, made = self.result, self._made_at(indexes[0])
        assert result is not None
        return CaseResult(
            suite=result.suite,
            path=result.path,
            case=made.case,
            model=made.model,
            tags=[],
            request_digest=made.request.digest(),
            messages=[dict(m) for m in made.request.messages],
            calls=[result.calls[i] for i in indexes],
            checks=[result.checks[i] for i in indexes],
            case_checks=case_checks,
        )

    # --- the report -------------------------------------------------------------------------------------

    def finished(self, when: str, report: pytest.TestReport) -> CaseResult | None:
        """The test's result with its outcome (a failed call is an error, as for a suite's case) and the
        reports' golden summary (of its first call that has a golden); None when it called no model."""
        result = self.result
        if result is None:
            return None
        errored = when == "setup" or self._check_error or any(c.error for c in result.calls)
        result.outcome = "error" if errored else ("skipped" if report.skipped else report.outcome)  # type: ignore[assignment]
        result.golden = next(
            (
                golden_summary(
                    c.golden,
                    result.calls[c.first : c.first + c.count],
                    result.checks[c.first : c.first + c.count],
                    c.drift,
                )
                for c in self._calls
                if c.golden.entry is not None
            ),
            None,
        )
        return result
