"""pytest collection nodes: a suite file becomes a PromptFile, each case × model a PromptItem.

Items never call a provider: the scheduler does, and an item waits for its own calls in `setup`, so a
provider failure is an ERROR (setup) and a check failure is a FAILURE (call). A suite with an `slo` adds
one SloItem per model, after its cases, judging the latency of all of them together.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import pytest

from .checks import BuildContext, CaseInput, CheckInput, GoldenRef, build_check
from .checks.fuzzy import similarity
from .checks.golden import similarity_to_golden
from .checks.semantic import SCORER as SEMANTIC
from .checks.text import unified_diff
from .errors import PromptguardError
from .golden import GoldenEntry, canonical_index, check_labels
from .modelchecks import CheckCallError, CheckModels, cosine
from .report.failure import explain_call_errors, explain_check_failure
from .results import Call, CaseResult, CheckResult, percentile

if TYPE_CHECKING:
    from .config import DriftSettings
    from .run import Planned, Run
    from .suite import Suite


class ModelCallFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """Raised in setup when a model call failed: an error of the item, not a check failure.

    pytest shows setup errors without calling `repr_failure`; as an outcome exception without a traceback
    it is shown as its message alone.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


# pytest's short summary names an exception by module and class; "ModelCallFailed: ..." reads better there.
ModelCallFailed.__module__ = "builtins"


class ChecksFailed(Exception):
    """Raised in runtest when the case did not pass: a check failed, or too few samples passed."""


class PromptFile(pytest.File):
    run: "Run"

    def collect(self) -> Iterable[pytest.Item]:
        try:
            suite, planned = self.run.load(self.path)
        except PromptguardError as exc:
            self.run.collect_errors += 1
            raise self.CollectError(str(exc.located(self.path))) from None
        except Exception as exc:  # noqa: BLE001 - a bug of ours costs this suite, not the whole run
            self.run.collect_errors += 1
            raise self.CollectError(
                f"{self.path.name}: loading the suite raised {type(exc).__name__}: {exc} (a promptguard bug: please report it)"
            ) from exc
        for tag in dict.fromkeys(tag for case in suite.cases for tag in case.tags):
            self.config.addinivalue_line("markers", f"{tag}: promptguard suite tag")
        items: list[pytest.Item] = [
            PromptItem.from_parent(self, **self._naming(plan.case.id, plan.spec.name), suite=suite, planned=plan)
            for plan in planned
        ]
        if suite.slo:
            models = dict.fromkeys(plan.spec.name for plan in planned)
            items += [SloItem.from_parent(self, **self._naming("slo", model), suite=suite, model=model) for model in models]
        return items

    def _naming(self, name: str, model: str) -> dict[str, str]:
        """`name[model]`, with the node id given whole: pytest >= 9.2 parses ids read back from its cache into
        name and params, so a child id built from the name alone would never match them (`--lf` would break)."""
        return {"name": f"{name}[{model}]", "nodeid": f"{self.nodeid}::{name}[{model}]"}


class PromptItem(pytest.Item):
    def __init__(self, *, suite: "Suite", planned: "Planned", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite, self.planned = suite, planned
        self.case, self.spec, self.provider = planned.case, planned.spec, planned.provider
        self.request = planned.request
        self.result: CaseResult | None = None
        for tag in self.case.tags:
            self.add_marker(tag)
        if self.case.skip:
            self.add_marker(pytest.mark.skip(reason=self.case.skip))
        if self.case.xfail:
            self.add_marker(pytest.mark.xfail(reason=self.case.xfail))

    @property
    def run(self) -> "Run":
        return self.parent.run  # type: ignore[union-attr]

    @property
    def samples(self) -> int:
        """How many calls to make: a baseline's worth when recording, else the repeat asked for (with
        `auto`, its first round; the verdict board asks for more)."""
        options = self.run.options
        if options.update:
            return options.repeat if isinstance(options.repeat, int) else self.planned.baseline_samples
        repeat = options.repeat or self.case.repeat
        return self.planned.drift.auto_min if repeat == "auto" else int(repeat)

    @property
    def adaptive(self) -> bool:
        return (self.run.options.repeat or self.case.repeat) == "auto" and not self.run.options.update

    @property
    def latency_tolerance(self) -> float | None:
        """How much slower the case may get: its latency check's `regression`, the command line's, the config's."""
        for check in self.case.checks:
            if check.name == "latency" and "regression" in check.argument:
                return float(check.argument["regression"])
        if self.run.options.latency_tolerance is not None:
            return self.run.options.latency_tolerance
        return self.planned.drift.latency_tolerance

    def sampled_baseline(self) -> GoldenEntry | None:
        """The sampled golden this item is judged against statistically, or None when it is judged sample by
        sample (one sample, a baseline of one, recording, replaying, no usable golden)."""
        options = self.run.options
        if options.update or options.replay or self.case.skip or not (self.adaptive or self.samples >= 2):
            return None
        golden = self.golden_ref()
        if golden.unusable() is not None or golden.entry is None or not golden.entry.sampled:
            return None
        return golden.entry

    def check_labels(self) -> list[str]:
        per_reply = [c.name for checks in self.case.turn_checks for c in checks if c.scope == "call"]
        return check_labels([c.name for c in self.case.checks if c.scope == "call"] + per_reply)

    def sample_checks(self, call: Call) -> list[CheckResult]:
        """Every per-call check of the case on one sample (of a conversation: on its transcript, then each
        reply's own checks on that reply)."""
        golden = self.golden_ref()
        results = [c.run(CheckInput(call, self.case.info, golden)) for c in self.case.checks if c.scope == "call"]
        if not self.case.turns:
            return results
        for index, (checks, reply) in enumerate(zip(self.case.turn_checks, call.turns)):
            given = CheckInput(reply, self.case.info, golden.turn(index))
            results += [replace(r, reason=f"reply {index + 1}: {r.reason}") for r in (c.run(given) for c in checks)]
        if call.stopped or len(call.turns) < len(self.case.turn_checks):
            why = call.stopped or f"the conversation ended after {len(call.turns)} of {len(self.case.turn_checks)} replies"
            results.append(CheckResult("conversation", False, why))
        return results

    @property
    def baseline(self) -> str:
        """The model whose goldens judge this item (itself, unless it is a candidate)."""
        return self.planned.baseline.name

    def golden_ref(self) -> GoldenRef:
        entry = self.run.goldens.file(self.suite).get(self.case.id, self.baseline)
        return GoldenRef(
            entry=entry,
            stale=entry is not None and entry.request_hash != self.planned.golden_digest,
            recording=self.run.options.update,
            record_command=f"pytest --promptguard --promptguard-update '{self.parent.nodeid}::{self.case.id}[{self.baseline}]'",  # type: ignore[union-attr]
            prompt_files=self.case.prompt_files,
        )

    def setup(self) -> None:
        calls = self.run.calls_for(self)
        self.run.record_calls(self.suite, self.spec.name, calls)
        self.result = CaseResult(
            suite=self.suite.name,
            path=self.parent.nodeid,  # type: ignore[union-attr]
            case=self.case.id,
            model=self.spec.name,
            tags=list(self.case.tags),
            request_digest=self.request.digest(),
            messages=[dict(m) for m in self.request.messages] + [dict(t) for t in self.request.turns],
            calls=calls,
            min_pass_rate=self.case.min_pass_rate if self.case.min_pass_rate is not None else 1.0,
            baseline_model=self.baseline if self.baseline != self.spec.name else None,
        )
        if any(call.error for call in calls):
            raise ModelCallFailed(explain_call_errors(calls))
        if self.run.options.update and len(calls) > 1 and self.case.min_pass_rate is None:
            # A sampled baseline records how often each check passes; it needs one good sample to be canonical.
            self.result.min_pass_rate = 1 / len(calls)
        # Checks that call a model themselves (a grader, an embedding model) run here, so that such a model's
        # failure is an ERROR of the item, as a provider failure is, and never passes for a failed check.
        try:
            if self in self.run.board:
                self.result.checks, self.result.verdict = self.run.board.judged(self)
            else:
                self.result.checks = [self.sample_checks(call) for call in calls]
        except CheckCallError as exc:
            raise ModelCallFailed(
                f"{exc}\nthis is an error of a model the checks call, not a check failure: the output was not judged"
            ) from None
        finally:
            self.result.check_calls = self.run.take_check_calls(self.path, self.case.id, self.spec.name)

    def runtest(self) -> None:
        assert self.result is not None
        calls, info, golden = self.result.calls, self.case.info, self.golden_ref()
        checks = list(self.case.checks)
        tolerance = self.run.options.latency_tolerance
        if tolerance is not None and not any(c.name == "latency" and "regression" in c.argument for c in checks):
            checks.append(_build("latency", {"regression": tolerance}, self.suite))
        if self in self.run.board:
            if self.result.verdict is not None:
                self.result.verdict.update(self._verdict_details(golden, self.result))
                if self.case.min_pass_rate is None:
                    self.result.min_pass_rate = 0.0  # the verdict judges the checks' pass rates
        self.result.case_checks = [c.run(CaseInput(tuple(calls), info, golden)) for c in checks if c.scope == "case"]
        change = self._model_change(golden, self.result)
        if change is not None:
            self.result.case_checks.append(change)
        self.result.golden = self._golden_summary(golden, self.result)
        self.result.check_calls += self.run.take_check_calls(self.path, self.case.id, self.spec.name)
        self.result.semantic_similarities = self._semantic_similarities(self.result)
        self._record_properties()
        if not self.result.passed:
            raise ChecksFailed(explain_check_failure(self.result))

    def similar(self, scorer: str) -> Callable[[str, str], float]:
        """`similar(a, b)`, 0-100, as a golden's `scorer` measures it: fuzzy, or semantic (100 x cosine of embeddings,
        asked through the run, noted as this case's check calls)."""
        if scorer != SEMANTIC:
            return lambda a, b: similarity(a, b, scorer)
        models = CheckModels(self.run, self.run.configs.for_suite(self.path), self.path.resolve())
        spec, asker = models.embedder(), (str(self.path.resolve()), self.case.id, self.spec.name)

        def semantic(a: str, b: str) -> float:
            try:
                return round(100 * models.similarity(spec, a, b, asker), 1)
            except CheckCallError:
                return 0.0  # the golden check of the same sample says why
        return semantic

    def _semantic_similarities(self, result: CaseResult) -> list[list[float]] | None:
        """When recording a sampled golden that a `golden: {method: semantic}` check judges: the samples' pairwise
        semantic similarities (100 x cosine), from which the golden's canonical output and calibrated min are
        chosen (computed here, where the embedding model can be asked, not at session end)."""
        semantic = any(c.name == "golden" and isinstance(c.argument, dict) and c.argument.get("method") == "semantic"
                       for c in self.case.checks)
        if not (semantic and self.run.options.update and len(result.calls) >= 2):
            return None
        models = CheckModels(self.run, self.run.configs.for_suite(self.path), self.path.resolve())
        texts = [c.text for c in result.calls]
        try:
            vectors = models.embed(models.embedder(), texts, (str(self.path.resolve()), self.case.id, self.spec.name))
        except CheckCallError as exc:
            raise ChecksFailed(f"cannot record the semantic golden: {exc}") from None
        result.check_calls += self.run.take_check_calls(self.path, self.case.id, self.spec.name)
        return [[round(100 * cosine(a, b), 1) for b in vectors] for a in vectors]

    def _verdict_details(self, golden: GoldenRef, result: CaseResult) -> dict[str, Any]:
        """What a drifted case's message shows besides its tests: the diff from the canonical output to the
        most typical of today's samples, and the served model and fingerprint then and now."""
        entry = golden.entry
        assert entry is not None
        texts = [c.text for c in result.calls]
        scorer = entry.scorer or self.planned.drift.scorer
        typical = texts[canonical_index(texts, [True] * len(texts), self.similar(scorer))]
        now = result.calls[0]
        return {
            "diff": unified_diff(entry.output, typical, "canonical (golden)", "most typical sample now") if typical != entry.output else None,
            "served_then": [entry.model_served, entry.fingerprint],
            "served_now": [now.model_served, now.fingerprint],
        }

    def _model_change(self, golden: GoldenRef, result: CaseResult) -> CheckResult | None:
        """A served model or fingerprint that differs from the golden's (see `model_change`); not for a
        candidate, which is expected to differ."""
        if result.baseline_model:
            return None
        fatal = self.run.options.strict or self.planned.drift.model_change == "fail"
        return model_change(golden, result.calls[0], self.spec.name, fatal)

    def _golden_summary(self, golden: GoldenRef, result: CaseResult) -> dict[str, Any] | None:
        """What the reports need of the golden (see `golden_summary`), and (for a candidate) whether the golden
        output itself passes today's checks, to find cases that flip."""
        summary = golden_summary(golden, result.calls, result.checks, self.planned.drift)
        entry = golden.entry
        if summary is None or entry is None:
            return None
        if result.baseline_model:
            old = entry.replayed_calls(self.baseline, self.planned.baseline.provider, 1)[0]
            summary["passed"] = all(
                c.run(CheckInput(old, self.case.info, None)).passed for c in self.case.checks if c.scope == "call" and c.name != "golden"
            )
        return summary

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (ModelCallFailed, ChecksFailed)):
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


def model_change(golden: GoldenRef, call: Call, model: str, fatal: bool) -> CheckResult | None:
    """A served model or fingerprint that differs from the golden's: reported, and fatal when strict. Not for
    a replay, which cannot differ, nor against a missing, stale or recording golden."""
    entry = golden.entry
    if entry is None or golden.stale or golden.recording or call.source == "replay":
        return None
    changes = [
        f"{what} {then} → {now}"
        for what, then, now in (
            ("served model", entry.model_served, call.model_served),
            ("fingerprint", entry.fingerprint, call.fingerprint),
        )
        if then is not None and now is not None and then != now
    ]
    if not changes:
        return None
    how = "fails under --promptguard-strict / drift.model_change: fail" if fatal else "reported; fatal with --promptguard-strict"
    return CheckResult("model_change", not fatal, f"{model}: {'; '.join(changes)} ({how})")


def golden_summary(
    golden: GoldenRef, calls: Sequence[Call], checks: Sequence[Sequence[CheckResult]], drift: "DriftSettings"
) -> dict[str, Any] | None:
    """What the reports need of the golden: its figures, and the first call's similarity to it (with the
    golden output when a golden check failed, for the reports' golden → now diff)."""
    entry = golden.entry
    if entry is None:
        return None
    summary: dict[str, Any] = {
        "state": "stale" if golden.stale else "ok",
        "model_served": entry.model_served,
        "fingerprint": entry.fingerprint,
        "latency_p50_ms": entry.latency_p50_ms,
        "latency_p95_ms": entry.latency_p95_ms,
        "latencies_ms": entry.latencies,
        "tokens_out": entry.tokens_out,
        "cost_usd": entry.cost_usd,
        "similarity": similarity_to_golden(entry.output, entry.tool_calls, calls[0], drift.scorer),
        "min_similarity": drift.min_similarity,
        "passed": None,
    }
    if any(r.name == "golden" and not r.passed for sample in checks for r in sample):
        summary["output"] = entry.output  # for the golden → now diff of the reports
    return summary


def _build(name: str, argument: Any, suite: "Suite") -> Any:
    return build_check(name, argument, BuildContext(suite_path=suite.path))


class SloFailed(Exception):
    """Raised when a suite's latency targets are broken over its live calls."""


class SloItem(pytest.Item):
    """`<file>::slo[<model>]`: the suite's latency targets (whole answer, and time to first token) over every live
    call it made to one model."""

    def __init__(self, *, suite: "Suite", model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite, self.model = suite, model

    def runtest(self) -> None:
        assert self.suite.slo is not None
        calls = self.parent.run.live_calls(self.suite, self.model)  # type: ignore[union-attr]
        if not calls:
            pytest.skip("no live calls to measure (cached, replayed, errored or deselected)")
        measured = {
            "": [c.latency_ms for c in calls],
            "ttft_": [c.ttft_ms for c in calls if c.ttft_ms is not None],
        }
        broken = []
        for key, target in sorted(self.suite.slo.items()):
            name = key[:-3]  # p95, ttft_p95
            measure, _, q = name.rpartition("p")
            values = measured[measure]
            if not values:  # a ttft target on calls that did not stream: the user's to fix, not a pass
                broken.append(f"{name}: no time to first token measured; set stream: true on model '{self.model}' in promptguard.yaml")
                continue
            value = percentile(values, float(q)) or 0.0
            if value > target:
                broken.append(f"{name} {value:.0f} ms > target {target:g} ms")
        if broken:
            raise SloFailed(f"latency SLO broken for model '{self.model}' over {len(calls)} live calls: " + "; ".join(broken))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SloFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, (self.suite.slo_line or 1) - 1, f"{self.suite.name}::slo[{self.model}]"
