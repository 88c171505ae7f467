"""pytest collection nodes: a suite file becomes a PromptFile, each case × model a PromptItem.

Items never call a provider: the scheduler does, and an item waits for its own calls in `setup`, so a
provider failure is an ERROR (setup) and a check failure is a FAILURE (call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import pytest

from .errors import PromptguardError
from .report.failure import explain_call_errors, explain_check_failure
from .results import CaseResult, Request, percentile
from .checks import CheckInput

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
    """Raised in runtest when any check failed on any sample."""


class PromptFile(pytest.File):
    run: "Run"

    def collect(self) -> Iterable[pytest.Item]:
        try:
            suite, expanded = self.run.load(self.path)
        except PromptguardError as exc:
            self.run.collect_errors += 1
            raise self.CollectError(str(exc.located(self.path))) from None
        return [
            PromptItem.from_parent(
                self, name=f"{case.id}[{spec.name}]", suite=suite, case=case, spec=spec, provider=provider
            )
            for case, spec, provider in expanded
        ]


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
            self.config.addinivalue_line("markers", f"{tag}: promptguard suite tag")
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
        return 1

    def setup(self) -> None:
        self.run.submit(self)
        calls = self.run.scheduler.calls(self.nodeid)
        self.result = CaseResult(
            suite=self.suite.name,
            path=self.parent.nodeid,  # type: ignore[union-attr]
            case=self.case.id,
            model=self.spec.name,
            tags=list(self.case.tags),
            request_digest=self.request.digest(),
            messages=[dict(m) for m in self.request.messages],
            calls=calls,
        )
        self._record_properties()
        if any(call.error for call in calls):
            raise ProviderFailure(explain_call_errors(calls))

    def runtest(self) -> None:
        assert self.result is not None
        self.result.checks = [
            [check(CheckInput(call=call, case=self.case.info)) for check in self.case.checks]
            for call in self.result.calls
        ]
        if not all(r.passed for sample in self.result.checks for r in sample):
            raise ChecksFailed(explain_check_failure(self.result.messages, self.result.calls, self.result.checks))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (ProviderFailure, ChecksFailed)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.case.line - 1, f"{self.suite.name}::{self.case.id}[{self.spec.name}]"

    def _record_properties(self) -> None:
        """Scalar figures for junitxml; the full record rides on the report as `report.promptguard`."""
        assert self.result is not None
        calls = [c for c in self.result.calls if c.error is None]
        if not calls:
            return
        first = calls[0]
        latency = percentile([c.latency_ms for c in calls], 50)
        self.user_properties += [
            ("promptguard_model", self.spec.name),
            ("promptguard_model_served", first.model_served or ""),
            ("promptguard_latency_ms", round(latency or 0.0, 1)),
            ("promptguard_tokens_in", sum(c.tokens_in or 0 for c in calls)),
            ("promptguard_tokens_out", sum(c.tokens_out or 0 for c in calls)),
        ]
