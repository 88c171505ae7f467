"""pytest collection nodes: a suite file becomes a PromptFile, each case × model a PromptItem.

Items never call a provider: the scheduler does, and an item waits for its own calls in `setup`, so a
provider failure is an ERROR (setup) and a check failure is a FAILURE (call). A suite with an `slo` adds
one SloItem per model, after its cases, judging the latency of all of them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import pytest

from .checks import CaseInput, CheckInput
from .errors import PromptguardError
from .report.failure import explain_call_errors, explain_check_failure
from .results import CaseResult, Request, percentile

if TYPE_CHECKING:
    from .config import ModelSpec
    from .providers import Provider
    from .run import Run
    from .suite import Case, Suite


class ProviderFailure(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """Raised in setup when a model call failed: an error of the item, not a check failure.

    pytest shows setup errors without calling `repr_failure`; as an outcome exception without a traceback
    it is shown as its message alone.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


class ChecksFailed(Exception):
    """Raised in runtest when the case did not pass: a check failed, or too few samples passed."""


class PromptFile(pytest.File):
    run: "Run"

    def collect(self) -> Iterable[pytest.Item]:
        try:
            suite, expanded = self.run.load(self.path)
        except PromptguardError as exc:
            self.run.collect_errors += 1
            raise self.CollectError(str(exc.located(self.path))) from None
        for tag in dict.fromkeys(tag for case in suite.cases for tag in case.tags):
            self.config.addinivalue_line("markers", f"{tag}: promptguard suite tag")
        items: list[pytest.Item] = [
            PromptItem.from_parent(self, **self._naming(case.id, spec.name), suite=suite, case=case, spec=spec, provider=provider)
            for case, spec, provider in expanded
        ]
        if suite.slo:
            models = dict.fromkeys(spec.name for _, spec, _ in expanded)
            items += [SloItem.from_parent(self, **self._naming("slo", model), suite=suite, model=model) for model in models]
        return items

    def _naming(self, name: str, model: str) -> dict[str, str]:
        """`name[model]`, with the node id given whole: pytest >= 9.2 parses ids read back from its cache into
        name and params, so a child id built from the name alone would never match them (`--lf` would break)."""
        return {"name": f"{name}[{model}]", "nodeid": f"{self.nodeid}::{name}[{model}]"}


class PromptItem(pytest.Item):
    def __init__(
        self, *, suite: "Suite", case: "Case", spec: "ModelSpec", provider: "Provider", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.suite, self.case, self.spec, self.provider = suite, case, spec, provider
        self.request = Request(
            model=spec.name,
            provider=spec.provider,
            model_id=spec.model or spec.callable,
            messages=case.messages,
            params={**spec.params, **case.params},
        )
        self.result: CaseResult | None = None
        for tag in case.tags:
            self.add_marker(tag)
        if case.skip:
            self.add_marker(pytest.mark.skip(reason=case.skip))
        if case.xfail:
            self.add_marker(pytest.mark.xfail(reason=case.xfail))

    @property
    def run(self) -> "Run":
        return self.parent.run  # type: ignore[union-attr]

    @property
    def samples(self) -> int:
        return self.run.repeat or self.case.repeat

    def setup(self) -> None:
        self.run.submit(self)
        calls = self.run.scheduler.calls(self.nodeid)
        self.run.record_calls(self.suite, self.spec.name, calls)
        self.result = CaseResult(
            suite=self.suite.name,
            path=self.parent.nodeid,  # type: ignore[union-attr]
            case=self.case.id,
            model=self.spec.name,
            tags=list(self.case.tags),
            request_digest=self.request.digest(),
            messages=[dict(m) for m in self.request.messages],
            calls=calls,
            min_pass_rate=self.case.min_pass_rate,
        )
        if any(call.error for call in calls):
            raise ProviderFailure(explain_call_errors(calls))

    def runtest(self) -> None:
        assert self.result is not None
        calls, info = self.result.calls, self.case.info
        per_call = [c for c in self.case.checks if c.scope == "call"]
        self.result.checks = [[c.run(CheckInput(call=call, case=info)) for c in per_call] for call in calls]
        self.result.case_checks = [
            c.run(CaseInput(calls=tuple(calls), case=info)) for c in self.case.checks if c.scope == "case"
        ]
        self._record_properties()
        if not self.result.passed:
            raise ChecksFailed(explain_check_failure(self.result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (ProviderFailure, ChecksFailed)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.case.line - 1, f"{self.suite.name}::{self.case.id}[{self.spec.name}]"

    def _record_properties(self) -> None:
        """Scalar figures for junitxml; the full record rides on the report as `report.promptguard`."""
        assert self.result is not None
        calls = self.result.calls
        latencies = [c.latency_ms for c in calls]
        self.user_properties += [
            ("promptguard_model", self.spec.name),
            ("promptguard_model_served", calls[0].model_served or ""),
            ("promptguard_samples", len(calls)),
            ("promptguard_pass_rate", round(self.result.pass_rate or 0.0, 4)),
            ("promptguard_latency_p50_ms", round(percentile(latencies, 50) or 0.0, 1)),
            ("promptguard_latency_p95_ms", round(percentile(latencies, 95) or 0.0, 1)),
            ("promptguard_latency_max_ms", round(max(latencies), 1)),
            ("promptguard_tokens_in", sum(c.tokens_in or 0 for c in calls)),
            ("promptguard_tokens_out", sum(c.tokens_out or 0 for c in calls)),
            ("promptguard_cost_usd", sum(c.cost_usd for c in calls) if all(c.cost_usd is not None for c in calls) else ""),
        ]


class SloFailed(Exception):
    """Raised when a suite's latency targets are broken over its live calls."""


class SloItem(pytest.Item):
    """`<file>::slo[<model>]`: the suite's latency targets over every live call it made to one model."""

    def __init__(self, *, suite: "Suite", model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite, self.model = suite, model

    def runtest(self) -> None:
        assert self.suite.slo is not None
        latencies = self.parent.run.live_latencies(self.suite, self.model)  # type: ignore[union-attr]
        if not latencies:
            pytest.skip("no live calls to measure (cached, replayed, errored or deselected)")
        broken = []
        for key, target in sorted(self.suite.slo.items()):
            value = percentile(latencies, float(key[1:-3])) or 0.0
            if value > target:
                broken.append(f"{key[:-3]} {value:.0f} ms > target {target:g} ms")
        if broken:
            raise SloFailed(f"latency SLO broken for model '{self.model}' over {len(latencies)} live calls: " + "; ".join(broken))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SloFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, (self.suite.slo_line or 1) - 1, f"{self.suite.name}::slo[{self.model}]"
