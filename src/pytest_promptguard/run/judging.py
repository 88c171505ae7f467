"""The one path that judges a case, without pytest: suite items, the `promptguard` fixture and the verdict
board all go through it.

A case × model is judged in two steps, as pytest runs an item in two phases: `open` waits for its calls and
judges every sample by its checks (an error here, a provider's or a grader's, is an ERROR of the item: "model
down" never looks like "model drifted"); `conclude` adds the checks over all samples (latency, cost), the
served-model comparison and the golden's figures, and says whether the case passed (a FAILURE when not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

from ..checks import BuildContext, CaseInput, CheckInput, GoldenRef, build_check
from ..checks.models import CheckCallError, CheckModels, ModelAccess
from ..checks.text import unified_diff
from ..core.results import Call, CaseResult, CheckResult
from ..drift.board import Board
from ..golden.book import GoldenBook
from ..golden.entry import GoldenEntry
from ..report.failure import explain_call_errors, explain_check_failure
from .golden_view import golden_summary, model_change, replayed
from .options import RunOptions

if TYPE_CHECKING:
    from ..call.scheduler import Budget, Scheduler
    from ..suite.loader import Suite
    from .plan import Planned


@dataclass(frozen=True)
class Judging:
    """What judging a case needs of its run: the options, the scheduler and the board that sample it, the goldens
    it is judged against, the models its checks ask, the budgets it spends, and where its timed calls go."""

    options: RunOptions
    scheduler: Scheduler
    board: Board
    goldens: GoldenBook
    models: ModelAccess
    check_models: Callable[[Path], CheckModels]  # the models the checks of the file at a path may ask
    budgets: Callable[[Suite], tuple[Budget, ...]]
    record_calls: Callable[[Suite, str, list[Call]], None]  # the timed calls, for the suite's SLO item


class CallsFailed(Exception):
    """A model call failed, or a model a check calls did (a grader, an embedding model): an ERROR of the item.
    Carries the case's result so far (its calls), for the reports."""

    def __init__(self, message: str, result: CaseResult | None = None) -> None:
        super().__init__(message)
        self.result = result

    @classmethod
    def of_check_model(cls, exc: CheckCallError, result: CaseResult | None = None) -> CallsFailed:
        why = f"{exc}\nthis is an error of a model the checks call, not a check failure: the output was not judged"
        return cls(why, result)


class CaseFailed(Exception):
    """The case did not pass: a check failed, or too few samples passed. A FAILURE of the item."""


class CaseJudge:
    """One planned case × model: which calls to make, the golden it is judged against, each sample's checks,
    the verdict, and the case's result."""

    def __init__(self, judging: Judging, suite: Suite, plan: Planned, key: str, suite_key: str) -> None:
        self.judging, self.suite, self.plan = judging, suite, plan
        self.case, self.spec, self.provider, self.request = plan.case, plan.spec, plan.provider, plan.request
        self.drift = plan.drift
        self.key = key  # the item's node id
        self.name = plan.case.id
        self.suite_key = suite_key  # the suite file's node id
        self.group = drift_item_key(suite_key, plan.spec.name)  # its suite x model: whose evidence is pooled
        self._started = False  # its calls were started (when the run was primed, or when first asked for)

    # -- what to call ---------------------------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """How many calls to make: a baseline's worth when recording, else the repeat asked for (with
        `auto`, its first round; the verdict board asks for more)."""
        options = self.judging.options
        if options.update:
            return options.repeat if isinstance(options.repeat, int) else self.plan.baseline_samples
        repeat = options.repeat or self.case.repeat
        return self.drift.auto_min if repeat == "auto" else int(repeat)

    @property
    def adaptive(self) -> bool:
        return (self.judging.options.repeat or self.case.repeat) == "auto" and not self.judging.options.update

    @property
    def latency_tolerance(self) -> float | None:
        """How much slower the case may get: its latency check's `regression`, the command line's, the config's."""
        for check in self.case.checks:
            if check.name == "latency" and "regression" in check.argument:
                return float(check.argument["regression"])
        if self.judging.options.latency_tolerance is not None:
            return self.judging.options.latency_tolerance
        return self.drift.latency_tolerance

    def sampled_baseline(self) -> GoldenEntry | None:
        """The sampled golden this case is judged against statistically, as a set, however many samples it takes
        today (one included); None when it is judged sample by sample (a baseline of one, or recorded before
        its samples' texts were kept; recording, replaying, skipped, no usable golden)."""
        options = self.judging.options
        if options.update or options.replay or self.case.skip:
            return None
        golden = self.golden_ref()
        if golden.unusable() is not None or golden.entry is None or golden.entry.sample_texts is None:
            return None
        return golden.entry

    def start_calls(self) -> None:
        """Start the case's calls: on the verdict board when it is judged against a sampled baseline."""
        if self._started:
            return
        self._started = True
        entry = self.sampled_baseline()
        if entry is not None:
            self.judging.board.add(self, entry, entry.sample_texts or [])
        else:
            self.start(self.key, self.samples, 0)

    def start(self, key: str, count: int, first: int) -> None:
        self.judging.scheduler.submit(
            key, self.provider, self.request, count, self.judging.budgets(self.suite), first=first
        )

    def gather(self, key: str) -> list[Call]:
        return self.judging.scheduler.calls(key)

    def calls(self) -> list[Call]:
        """The case's calls: from the scheduler (started now unless they were at collection), or from its golden."""
        if self.judging.options.replay:
            return replayed(self.golden_ref(), self.spec, self.request, self.samples)
        self.start_calls()
        return self.judging.board.calls(self.key) if self.key in self.judging.board else self.gather(self.key)

    # -- the golden ------------------------------------------------------------------------------------------------

    @property
    def baseline(self) -> str:
        """The model whose goldens judge this case (its own, unless it is a candidate)."""
        return self.plan.baseline.name

    def key_of(self, model: str) -> str:
        """The node id of this case for `model`: how a command line names it."""
        return f"{self.suite_key}::{self.case.id}[{model}]"

    def expected_ms(self) -> float | None:
        """How long its calls will take, in all: the mean latency its golden recorded times the samples asked now
        (what a shard is weighed by); None when no golden recorded a latency."""
        entry = self.judging.goldens.file(self.suite.path, self.suite.name).get(self.case.id, self.baseline)
        latencies = [latency for latency in entry.latencies if latency > 0] if entry is not None else []
        return fmean(latencies) * self.samples if latencies else None

    def golden_ref(self) -> GoldenRef:
        entry = self.judging.goldens.file(self.suite.path, self.suite.name).get(self.case.id, self.baseline)
        return GoldenRef(
            entry=entry,
            stale=entry is not None and entry.request_hash != self.plan.golden_digest,
            recording=self.judging.options.update,
            record_command=f"pytest --promptguard --promptguard-update '{self.key_of(self.baseline)}'",
            prompt_files=self.case.prompt_files,
        )

    # -- judging ---------------------------------------------------------------------------------------------------

    def sample_checks(self, call: Call) -> list[CheckResult]:
        """Every per-call check of the case on one sample (of a conversation: on its transcript, then each
        reply's own checks on that reply). Against a sampled baseline the golden check does not judge one sample
        by one canonical output: the board judges the samples as a set."""
        golden = self.golden_ref()
        given = CheckInput(call, self.case.info, golden)
        as_set = self.key in self.judging.board
        results = [
            AS_SET if as_set and c.name == "golden" else c.run(given) for c in self.case.checks if c.scope == "call"
        ]
        if not self.case.turns:
            return results
        for index, (checks, reply) in enumerate(zip(self.case.turn_checks, call.turns)):
            given = CheckInput(reply, self.case.info, golden.turn(index))
            results += [replace(r, reason=f"reply {index + 1}: {r.reason}") for r in (c.run(given) for c in checks)]
        if call.stopped or len(call.turns) < len(self.case.turn_checks):
            why = (
                call.stopped
                or f"the conversation ended after {len(call.turns)} of {len(self.case.turn_checks)} replies"
            )
            results.append(CheckResult("conversation", False, why))
        return results

    def open(self) -> CaseResult:
        """Wait for the calls and judge each sample; CallsFailed when a call, or a model a check calls, failed."""
        calls = self.calls()
        self.judging.record_calls(self.suite, self.spec.name, calls)
        result = CaseResult(
            suite=self.suite.name,
            path=self.suite_key,
            case=self.case.id,
            model=self.spec.name,
            tags=list(self.case.tags),
            request_digest=self.plan.request_digest,
            messages=[dict(m) for m in self.request.messages] + [dict(t) for t in self.request.turns],
            calls=calls,
            min_pass_rate=self.case.min_pass_rate if self.case.min_pass_rate is not None else 1.0,
            baseline_model=self.baseline if self.baseline != self.spec.name else None,
        )
        if any(call.error for call in calls):
            raise CallsFailed(explain_call_errors(calls), result)
        if self.judging.options.update and len(calls) > 1 and self.case.min_pass_rate is None:
            # A sampled baseline records how often each check passes; it needs one good sample to be canonical.
            result.min_pass_rate = 1 / len(calls)
        # Checks that call a model themselves (a grader, an embedding model) run here, so that such a model's
        # failure is an ERROR of the item, as a provider failure is, and never passes for a failed check.
        try:
            if self.key in self.judging.board:
                result.checks, result.verdict = self.judging.board.judged(self.key)
            else:
                result.checks = [self.sample_checks(call) for call in calls]
        except CheckCallError as exc:
            raise CallsFailed.of_check_model(exc, result) from None
        finally:
            result.check_calls = self._take_check_calls()
        return result

    def conclude(self, result: CaseResult) -> None:
        """Judge the case as a whole; CaseFailed (with the failure's explanation) when it did not pass."""
        calls, golden = result.calls, self.golden_ref()
        on_board = self.key in self.judging.board and result.verdict is not None
        checks = self._case_checks(latency_judged=on_board and self._latency_judged(result))
        if on_board:
            result.verdict.update(self._verdict_details(golden, result))  # type: ignore[union-attr]
            if self.case.min_pass_rate is None and len(calls) > 1:
                result.min_pass_rate = 0.0  # the verdict judges how often each check passes
        result.case_checks = [
            c.run(CaseInput(tuple(calls), self.case.info, golden)) for c in checks if c.scope == "case"
        ]
        if not result.baseline_model:  # a candidate is expected to differ
            fatal = self.judging.options.strict or self.drift.model_change == "fail"
            change = model_change(golden, calls[0], self.spec.name, fatal)
            if change is not None:
                result.case_checks.append(change)
        result.golden = self._golden_summary(golden, result)
        result.check_calls += self._take_check_calls()
        result.semantic_similarities = self._semantic_similarities(result)
        if not result.passed:
            raise CaseFailed(explain_check_failure(result))

    def _case_checks(self, latency_judged: bool) -> list[Any]:
        """The case-scope checks: the suite's, and `--promptguard-latency-tolerance`'s. Where the verdict judges
        latency on whole distributions, a latency check's `regression` (a p95 against the golden's) is left to
        it: one latency gate, not two, and not one that fails on its own noise."""
        checks = []
        for check in self.case.checks:
            if latency_judged and check.name == "latency" and "regression" in check.argument:
                rest = {k: v for k, v in check.argument.items() if k != "regression"}
                if rest:
                    checks.append(build_check("latency", rest, BuildContext(suite_path=self.suite.path)))
                continue
            checks.append(check)
        tolerance = self.judging.options.latency_tolerance
        regressed = any(c.name == "latency" and "regression" in c.argument for c in self.case.checks)
        if tolerance is not None and not regressed and not latency_judged:
            checks.append(build_check("latency", {"regression": tolerance}, BuildContext(suite_path=self.suite.path)))
        return checks

    def _latency_judged(self, result: CaseResult) -> bool:
        assert result.verdict is not None
        return any(t["name"] == "latency" for t in result.verdict.get("tests") or ())

    def _asker(self) -> tuple[str, str, str]:
        return str(self.suite.path.resolve()), self.case.id, self.spec.name

    def _take_check_calls(self) -> list[dict[str, Any]]:
        return self.judging.models.take(self.suite.path, self.case.id, self.spec.name)

    def _semantic_similarities(self, result: CaseResult) -> list[list[float]] | None:
        """When recording a sampled golden that a `golden: {method: semantic}` check judges: the samples' pairwise
        semantic similarities, measured here, where the embedding model can be asked (not at session end)."""
        if not (recorded_by_meaning(self.case.checks) and self.judging.options.update and len(result.calls) >= 2):
            return None
        models = self.judging.check_models(self.suite.path)
        try:
            matrix = models.similarity_matrix([c.text for c in result.calls], self._asker())
        except CheckCallError as exc:
            raise CaseFailed(f"cannot record the semantic golden: {exc}") from None
        result.check_calls += self._take_check_calls()
        return matrix

    def _verdict_details(self, golden: GoldenRef, result: CaseResult) -> dict[str, Any]:
        """What a drifted case's message shows besides its tests: the sample that stands for the change, as a
        diff from the baseline sample nearest to it, and the served model and fingerprint then and now."""
        entry, verdict = golden.entry, result.verdict
        assert entry is not None and verdict is not None
        shown, nearest = verdict.get("representative"), verdict.pop("nearest_baseline", None)
        now = result.calls[0]
        diff = None
        if shown is not None and nearest is not None and shown["text"] != nearest:
            label = f"this sample now ({shown['alike']})"
            diff = unified_diff(nearest, shown["text"], "nearest baseline sample", label)
        return {
            "diff": diff,
            "served_then": [entry.model_served, entry.fingerprint],
            "served_now": [now.model_served, now.fingerprint],
        }

    def _golden_summary(self, golden: GoldenRef, result: CaseResult) -> dict[str, Any] | None:
        """What the reports need of the golden (see `golden_summary`), and (for a candidate) whether the golden
        output itself passes today's checks, to find cases that flip."""
        summary = golden_summary(golden, result.calls, result.checks, self.drift)
        entry = golden.entry
        if summary is None or entry is None:
            return None
        if result.baseline_model:
            old = entry.replayed_calls(self.baseline, self.plan.baseline.provider, 1)[0]
            summary["passed"] = all(
                c.run(CheckInput(old, self.case.info, None)).passed
                for c in self.case.checks
                if c.scope == "call" and c.name != "golden"
            )
        return summary


def recorded_by_meaning(checks: Sequence[Any]) -> bool:
    """Whether a `golden: {method: semantic}` check judges these samples: then a sampled golden is recorded from
    their semantic similarities."""
    return any(
        c.name == "golden" and isinstance(c.argument, dict) and c.argument.get("method") == "semantic" for c in checks
    )


AS_SET = CheckResult("golden", True, "judged against the baseline's samples as a set: see the verdict")


def drift_item_key(suite_key: str, model: str) -> str:
    """The node id of a suite's drift item for `model`: its cases' evidence pooled."""
    return f"{suite_key}::drift[{model}]"
