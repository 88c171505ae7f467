"""A planned item: one case of a suite for one model, known at collection, before any call."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..config.spec import DriftSettings, ModelSpec
from ..core.results import Request
from ..providers import Provider
from ..suite.loader import Case

DEFAULT_BASELINE_SAMPLES = 20  # at temperature > 0 (benchmarks/power_baseline.py)


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
        """Samples `--promptguard-update` records: the suite's, the config's, else 1 at temperature 0 and 20
        otherwise: a nondeterministic model needs a spread to compare with, and the set verdicts need a spread
        wide enough to find half-drifted cases (docs/drift.md: the power analysis behind 20)."""
        if self.case.baseline_samples is not None:
            return self.case.baseline_samples
        if self.drift.baseline_samples is not None:
            return self.drift.baseline_samples
        temperature = {**self.spec.params, **self.case.params}.get("temperature")
        return 1 if temperature == 0 else DEFAULT_BASELINE_SAMPLES

    @cached_property
    def request_digest(self) -> str:
        return self.request.digest()

    @cached_property
    def golden_digest(self) -> str:
        """The hash a golden of this case must carry to be current: the baseline model's request (its own, unless
        a candidate model replaces it)."""
        if self.baseline is self.spec:
            return self.request_digest
        return request_for(self.case, self.baseline).digest()


def request_for(case: Case, spec: ModelSpec) -> Request:
    return spec.request(
        case.messages,
        case.params,
        turns=case.turns,
        tools=case.tools,
        tool_choice=case.tool_choice,
        response_format=case.response_format,
    )
