"""pytest collection nodes: a suite file becomes a PromptFile, each case × model a PromptItem.

Items never call a provider and never judge: the scheduler calls, and each item hands its two phases to its
case's judge (run/judging.py). `setup` waits for the calls and judges each sample, so a provider failure is an
ERROR; `runtest` concludes, so a check failure is a FAILURE. A suite with an `slo` adds one SloItem per model,
after its cases, judging the latency of all of them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

from ..core.errors import PromptguardError
from ..core.results import CaseResult, percentile
from ..report.failure import explain_suite_verdict
from ..run.golden_view import slo_breaches
from ..run.judging import CallsFailed, CaseFailed, CaseJudge
from .options import RUN
from .outcomes import ChecksFailed, ModelCallFailed

if TYPE_CHECKING:
    from ..run.session import Run
    from ..suite.loader import Suite


class PromptFile(pytest.File):
    @property
    def run(self) -> Run:
        return self.config.stash[RUN]

    def collect(self) -> Iterable[pytest.Item]:
        run = self.run
        try:
            suite, planned = run.load(self.path)
        except PromptguardError as exc:
            run.collect_errors += 1
            raise self.CollectError(str(exc.located(self.path))) from None
        except Exception as exc:  # noqa: BLE001 - a bug of ours costs this suite, not the whole run
            run.collect_errors += 1
            raise self.CollectError(
                f"{self.path.name}: loading the suite raised {type(exc).__name__}: {exc} (a promptguard bug: please "
                "report it)"
            ) from exc
        for tag in dict.fromkeys(tag for case in suite.cases for tag in case.tags):
            self.config.addinivalue_line("markers", f"{tag}: promptguard suite tag")
        items: list[pytest.Item] = []
        for plan in planned:
            naming = self._naming(plan.case.id, plan.spec.name)
            judge = run.judge(suite, plan, naming["nodeid"], self.nodeid)
            items.append(PromptItem.from_parent(self, **naming, judge=judge))
        pooled = dict.fromkeys(i.judge.spec.name for i in items if i.judge.sampled_baseline() is not None)
        items += [
            DriftItem.from_parent(self, **self._naming("drift", model), suite=suite, model=model) for model in pooled
        ]
        if suite.slo:
            models = dict.fromkeys(plan.spec.name for plan in planned)
            items += [
                SloItem.from_parent(self, **self._naming("slo", model), suite=suite, model=model) for model in models
            ]
        return items

    def _naming(self, name: str, model: str) -> dict[str, str]:
        """`name[model]`, with the node id given whole: pytest >= 9.2 parses ids read back from its cache into
        name and params, so a child id built from the name alone would never match them (`--lf` would break)."""
        return {"name": f"{name}[{model}]", "nodeid": f"{self.nodeid}::{name}[{model}]"}


class PromptItem(pytest.Item):
    def __init__(self, *, judge: CaseJudge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.judge = judge
        self.result: CaseResult | None = None
        case = judge.case
        for tag in case.tags:
            self.add_marker(tag)
        if case.skip:
            self.add_marker(pytest.mark.skip(reason=case.skip))
        if case.xfail:
            self.add_marker(pytest.mark.xfail(reason=case.xfail))

    def setup(self) -> None:
        try:
            self.result = self.judge.open()
        except CallsFailed as exc:
            self.result = exc.result
            raise ModelCallFailed(str(exc)) from None

    def runtest(self) -> None:
        assert self.result is not None
        try:
            self.judge.conclude(self.result)
        except CaseFailed as exc:
            raise ChecksFailed(str(exc)) from None
        finally:
            self.user_properties += junit_properties(self.result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (ModelCallFailed, ChecksFailed)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        judge = self.judge
        return self.path, judge.case.line - 1, f"{judge.suite.name}::{judge.case.id}[{judge.spec.name}]"


def junit_properties(result: CaseResult) -> list[tuple[str, Any]]:
    """Scalar figures for junitxml; the full record rides on the report as `report.promptguard`."""
    calls = result.calls
    latencies = [c.latency_ms for c in calls]
    return [
        ("promptguard_model", result.model),
        ("promptguard_model_served", calls[0].model_served or ""),
        ("promptguard_samples", len(calls)),
        ("promptguard_pass_rate", round(result.pass_rate or 0.0, 4)),
        ("promptguard_latency_p50_ms", round(percentile(latencies, 50) or 0.0, 1)),
        ("promptguard_latency_p95_ms", round(percentile(latencies, 95) or 0.0, 1)),
        ("promptguard_latency_max_ms", round(max(latencies), 1)),
        ("promptguard_tokens_in", sum(c.tokens_in or 0 for c in calls)),
        ("promptguard_tokens_out", sum(c.tokens_out or 0 for c in calls)),
        ("promptguard_cost_usd", sum(c.cost_usd for c in calls) if all(c.cost_usd is not None for c in calls) else ""),
    ]


class DriftItem(pytest.Item):
    """`<file>::drift[<model>]`: the suite's cases judged together against their sampled baselines. A model update
    moves many prompts at once, each a little: this item fails when the model as a whole drifted, naming the
    cases that contribute most, and it is how a run of one sample a case (which no case alone can judge) sees
    drift at all."""

    def __init__(self, *, suite: Suite, model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite, self.model = suite, model
        self.record: dict[str, Any] | None = None

    def runtest(self) -> None:
        verdict = self.config.stash[RUN].board.suite_verdict(self.nodeid)
        if verdict is None:
            pytest.skip("no case of this suite and model was judged against a sampled baseline (errors, or deselected)")
        self.record = {"suite": self.suite.name, "model": self.model, "item": self.nodeid, **verdict}
        if verdict["fails"]:
            raise ChecksFailed(explain_suite_verdict(self.record))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ChecksFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, 0, f"{self.suite.name}::drift[{self.model}]"


class SloItem(pytest.Item):
    """`<file>::slo[<model>]`: the suite's latency targets (whole answer, and time to first token) over every live
    call it made to one model."""

    def __init__(self, *, suite: Suite, model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite, self.model = suite, model

    def runtest(self) -> None:
        assert self.suite.slo is not None
        calls = self.config.stash[RUN].live_calls(self.suite, self.model)
        if not calls:
            pytest.skip("no live calls to measure (cached, replayed, errored or deselected)")
        broken = slo_breaches(self.suite.slo, calls, self.model)
        if broken:
            raise ChecksFailed(broken)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ChecksFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, (self.suite.slo_line or 1) - 1, f"{self.suite.name}::slo[{self.model}]"
