"""The verdict board: the cases this process judges against sampled baselines, sampled, looked at and decided
together, with one pooled test per suite x model.

Benjamini–Hochberg needs every p-value before it can decide any, and a suite's pooled test needs all its cases,
so the first judged item of a process waits until all of the process's judged cases have their samples (they
were all started at collection, so this costs no time), and `repeat: auto` cases sample round after round
until each stops. Each process decides its own cases with the *run's* numbers of tested cases and suites in
the BH bounds: that keeps the run's error rates at alpha however xdist splits the work (suites are never split:
a worker gets whole suite files). A case judged against a sampled baseline makes exactly the calls it would
make anyway: one look at one sample, a fixed repeat's samples, or `repeat: auto`'s rounds.

The statistics (sets, verdicts, power) are imported when the first case is judged here: most runs judge none.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..checks.models import CheckCallError
from ..config.loader import DriftSettings
from ..core.results import Call, CheckResult
from ..golden.entry import GoldenEntry

if TYPE_CHECKING:
    from .sequential import Looks
    from .sets import SetTest
    from .verdict import CaseSamples
    from .verdicts import CaseLook, SuiteLook


class Subject(Protocol):
    """A case × model as the board judges it: how to sample it, and how to judge one sample."""

    key: str  # unique in the run (the item's node id)
    name: str  # how a suite's verdict names it (the case id)
    group: str  # its suite file and model: the cases whose evidence is pooled
    drift: DriftSettings
    adaptive: bool  # repeat: auto
    samples: int  # a fixed repeat's samples (1 without repeat)
    latency_tolerance: float | None

    def start(self, key: str, count: int, first: int) -> None:
        """Start `count` more samples (numbered from `first`), gathered under `key`."""

    def gather(self, key: str) -> list[Call]:
        """Wait for the samples started under `key`."""

    def sample_checks(self, call: Call) -> list[CheckResult]: ...


@dataclass
class Member:
    """One judged case × model and what it has gathered so far."""

    subject: Subject
    entry: GoldenEntry
    looks: Looks
    samples: CaseSamples
    calls: list[Call] = field(default_factory=list)
    checks: list[list[CheckResult]] = field(default_factory=list)
    look: int = 0  # the next look's index
    final: CaseLook | None = None  # the last look taken
    pooled: SetTest | None = None  # the look at `looks.pooling` samples, for the suite's pooled test
    stopped: bool = False  # stopped early for futility
    done: bool = False
    verdict: dict[str, Any] | None = None
    failure: CheckCallError | None = None  # a model a check called (a grader) failed

    def key(self, look: int) -> str:
        return self.subject.key if look == 0 else f"{self.subject.key}#look{look}"

    @property
    def tests(self) -> int:
        return 2 if self.latency_judged else 1

    @property
    def latency_judged(self) -> bool:
        return self.subject.latency_tolerance is not None and bool(self.samples.latencies_then)


class Board:
    def __init__(self) -> None:
        self.family: defaultdict[float, int] = defaultdict(int)  # cases tested in the whole run, per alpha
        self.suites: defaultdict[float, set[str]] = defaultdict(set)  # suite x model groups, per alpha
        self._members: dict[str, Member] = {}
        self._suite_verdicts: dict[str, dict[str, Any]] = {}

    def count(self, alpha: float, group: str) -> None:
        """Count one of the run's tested cases (every process sees the whole selection, under xdist too)."""
        self.family[alpha] += 1
        self.suites[alpha].add(group)

    def __contains__(self, key: str) -> bool:
        return key in self._members

    def add(self, subject: Subject, entry: GoldenEntry, texts: list[str]) -> None:
        """Judge `subject` here against `entry` (whose samples' texts are `texts`) and start its first look."""
        if subject.key in self._members:
            return

        from .sequential import Looks
        from .verdict import CaseSamples

        drift = subject.drift
        looks = Looks.auto(drift.auto_min, drift.auto_max) if subject.adaptive else Looks((subject.samples,))
        member = Member(subject, entry, looks, CaseSamples.of_baseline(entry, texts))
        self._members[subject.key] = member
        self.family[drift.alpha] = max(self.family[drift.alpha], 1)  # counted at collection; never less than itself
        self.suites[drift.alpha].add(subject.group)
        subject.start(member.key(0), looks.sizes[0], 0)

    def calls(self, key: str) -> list[Call]:
        """The calls of the case under `key`, once every pending case of this process is decided."""
        self.settle()
        return self._members[key].calls

    def judged(self, key: str) -> tuple[list[list[CheckResult]], dict[str, Any] | None]:
        """The case's checks and verdict; raises the CheckCallError a check's own model call met."""
        member = self._members[key]
        if member.failure is not None:
            raise member.failure
        return member.checks, member.verdict

    def suite_verdict(self, group: str) -> dict[str, Any] | None:
        """The pooled verdict of a suite x model (None when none of its cases could be judged)."""
        self.settle()
        return self._suite_verdicts.get(group)

    def settle(self) -> None:
        pending = [m for m in self._members.values() if not m.done]
        active = pending
        while active:
            for member in active:
                self._gather(member)
            active = [m for m in active if not m.done]
        if pending:
            self._decide([m for m in self._members.values() if m.final is not None])

    def _gather(self, member: Member) -> None:
        """Take the member's latest round and look at it: stop, or ask for the next round."""

        subject = member.subject
        new = subject.gather(member.key(member.look))
        member.calls += new
        if any(call.error for call in new):
            member.done = True  # the item reports the error; nothing to judge
            return
        try:
            checks = [subject.sample_checks(call) for call in new]
        except CheckCallError as exc:
            member.done, member.failure = True, exc  # the item reports it in its setup
            return
        member.checks += checks
        member.samples.add(new, checks)
        look = self._look(member, finest=None)
        index, n = member.look, member.samples.n_new
        last = member.looks.last(index)
        if n == member.looks.pooling:
            member.pooled = look.text
        member.final = look
        member.look += 1
        if last or look.futile():
            member.done, member.stopped = True, not last
            return
        subject.start(member.key(member.look), member.looks.sizes[member.look] - n, n)

    def _look(self, member: Member, finest: float | None) -> CaseLook:
        """One look at the member's samples so far. The last look resolves p-values down to the family's bound
        (`finest` refines a floored one); an interim look only needs to see futility."""
        from .sequential import FUTILITY_P
        from .sets import DRAWS
        from .verdict import tolerances
        from .verdicts import family_bound, look_at_case

        subject, samples = member.subject, member.samples
        index = member.look if finest is None else member.look - 1
        drift = subject.drift
        last = member.looks.last(index)
        if finest is None:
            finest = family_bound(drift.alpha, member.tests) if last else FUTILITY_P / 10
        return look_at_case(
            samples.matrix,
            samples.n_baseline,
            tolerances(drift.similarity_tolerance, subject.latency_tolerance if member.latency_judged else None),
            failed=samples.failed,
            figures=samples.figures,
            latencies=samples.latencies(),
            seed=f"{subject.key}/{index}",
            draws=DRAWS if samples.n_new == member.looks.pooling else 0,
            finest_p=finest,
        )

    def _decide(self, members: list[Member]) -> None:
        by_alpha: dict[float, list[Member]] = defaultdict(list)
        for member in members:
            by_alpha[member.subject.drift.alpha].append(member)
        for alpha, group in by_alpha.items():
            self._decide_family(alpha, group)

    def _decide_family(self, alpha: float, members: list[Member]) -> None:
        from .verdict import case_record, splits, suite_record
        from .verdicts import judge_run, lone_bound

        family, suite_family = self.family[alpha], len(self.suites[alpha])
        judged = [m for m in members if not m.stopped]  # a case stopped for futility left the error control
        suites = self._suite_looks(members)

        def decide() -> dict[str, Any]:
            cases = {m.subject.key: m.final for m in judged if m.final is not None}
            return judge_run(cases, {g: look for g, (look, _) in suites.items()}, alpha, family, suite_family)

        decisions = decide()
        floored = [m for m in judged if m.final and m.final.text.floored and not decisions[m.subject.key].failing]
        if floored:  # their rejection may hang on a finer p-value: look again down to a lone rejection's bound
            for member in floored:
                member.final = self._look(member, finest=lone_bound(alpha, family, member.tests))
            decisions = decide()
        for member in members:
            assert member.final is not None
            member.verdict = case_record(
                member.final,
                decisions.get(member.subject.key),
                member.samples,
                alpha,
                family,
                member.stopped,
                member.looks.sizes[-1] if member.subject.adaptive else None,
                splits(member.entry, member.samples),
                member.subject.latency_tolerance if member.latency_judged else None,
                member.subject.drift,
            )
        for group, (look, count) in suites.items():
            self._suite_verdicts[group] = suite_record(look, decisions[group], alpha, suite_family, count)

    def _suite_looks(self, members: list[Member]) -> dict[str, tuple[SuiteLook, int]]:
        """Per suite x model: its cases' looks at the pooling size, pooled (cases without one are left out)."""
        from .verdict import tolerances
        from .verdicts import look_at_suite

        grouped: defaultdict[str, list[Member]] = defaultdict(list)
        for member in members:
            if member.pooled is not None:
                grouped[member.subject.group].append(member)
        looks = {}
        for group, cases in grouped.items():
            drift, first = cases[0].subject.drift, cases[0]
            latency = first.subject.latency_tolerance if all(m.latency_judged for m in cases) else None
            strata = [_stratum(m) for m in cases] if latency is not None else []
            pooled = {m.subject.name: m.pooled for m in cases if m.pooled is not None}
            looks[group] = (look_at_suite(pooled, strata, tolerances(drift.similarity_tolerance, latency)), len(cases))
        return looks


def _stratum(member: Member) -> tuple[list[float], list[float]]:
    """A case's latencies for the suite's pooled latency test: today's first `pooling` samples (every case has
    them, whichever look it stopped at)."""
    samples = member.samples
    return samples.latencies_then, samples.latencies_now[: member.looks.pooling]
