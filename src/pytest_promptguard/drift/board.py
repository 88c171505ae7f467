"""The verdict board: the cases this process judges statistically, sampled, weighed and decided together.

Benjamini–Hochberg needs every case's p-value before it can decide any, so the first judged item of a
process waits until all of the process's judged cases have their samples (they were all started at
collection, so this costs no time), and `repeat: auto` cases sample round after round until each is decided.
Each process decides its own cases with the *run's* number of tested cases `m` in the BH bounds: that keeps
the false discovery rate of the whole run at alpha however the cases are split over xdist workers (each
process's expected share of false discoveries is at most its null cases × alpha / m).

The statistics (verdict.py, stats.py) are imported when the first case is judged here: most runs judge none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..checks.models import CheckCallError
from ..config.loader import DriftSettings
from ..core.results import Call, CheckResult
from ..golden.entry import GoldenEntry
from . import multiple

if TYPE_CHECKING:
    from .verdict import Evidence


class Subject(Protocol):
    """A case × model as the board judges it: how to sample it, and how to judge one sample."""

    key: str  # unique in the run (the item's node id)
    drift: DriftSettings
    adaptive: bool  # repeat: auto
    samples: int  # a fixed repeat's samples
    latency_tolerance: float | None
    streams: bool

    def check_labels(self) -> list[str]: ...

    def start(self, key: str, count: int, first: int) -> None:
        """Start `count` more samples (numbered from `first`), gathered under `key`."""

    def gather(self, key: str) -> list[Call]:
        """Wait for the samples started under `key`."""

    def sample_checks(self, call: Call) -> list[CheckResult]: ...

    def similar(self, scorer: str) -> Callable[[str, str], float]: ...


@dataclass
class Member:
    """One judged case × model and what it has gathered so far."""

    subject: Subject
    entry: GoldenEntry
    names: list[str]
    looks: list[int] | None  # sample counts to look at (repeat: auto), None for a fixed repeat
    calls: list[Call] = field(default_factory=list)
    checks: list[list[CheckResult]] = field(default_factory=list)
    evidence: Evidence | None = None
    rounds: int = 0
    done: bool = False
    verdict: dict[str, Any] | None = None
    failure: CheckCallError | None = None  # a model a check called (a grader) failed

    def key(self, round_: int) -> str:
        return self.subject.key if round_ == 0 else f"{self.subject.key}#round{round_}"

    @property
    def weights(self) -> list[float] | None:
        return multiple.spending_weights(self.looks) if self.looks else None


class Board:
    def __init__(self) -> None:
        self.family: Counter[float] = Counter()  # cases tested in the whole run, per alpha
        self._members: dict[str, Member] = {}

    def count(self, alpha: float) -> None:
        """Count one of the run's tested cases (every process sees the whole selection, under xdist too)."""
        self.family[alpha] += 1

    def __contains__(self, key: str) -> bool:
        return key in self._members

    def add(self, subject: Subject, entry: GoldenEntry) -> None:
        """Judge `subject` here and start its first round of samples."""
        if subject.key in self._members:
            return
        from .verdict import planned_tests

        drift = subject.drift
        looks = multiple.look_sizes(drift.auto_min, drift.auto_max) if subject.adaptive else None
        tests = planned_tests(entry, subject.check_labels(), subject.latency_tolerance, subject.streams)
        member = Member(subject, entry, tests, looks)
        self._members[subject.key] = member
        self.family[drift.alpha] = max(self.family[drift.alpha], 1)  # counted at collection; never less than itself
        self._submit(member, looks[0] if looks else subject.samples)

    def calls(self, key: str) -> list[Call]:
        """The calls of the case under `key`, once every pending case of this process is decided."""
        self._settle()
        return self._members[key].calls

    def judged(self, key: str) -> tuple[list[list[CheckResult]], dict[str, Any] | None]:
        """The case's checks and verdict; raises the CheckCallError a check's own model call met."""
        member = self._members[key]
        if member.failure is not None:
            raise member.failure
        return member.checks, member.verdict

    def _submit(self, member: Member, count: int) -> None:
        member.subject.start(member.key(member.rounds), count, len(member.calls))

    def _settle(self) -> None:
        pending = [m for m in self._members.values() if not m.done]
        active = pending
        while active:
            for member in active:
                self._gather(member)
            active = [m for m in active if not m.done]
        self._decide([m for m in pending if m.evidence is not None])

    def _gather(self, member: Member) -> None:
        """Take the member's latest round and look at it: stop, or ask for the next round."""
        from .verdict import measure, weigh

        subject = member.subject
        new = subject.gather(member.key(member.rounds))
        member.calls += new
        if any(call.error for call in new):
            member.done, member.evidence = True, None  # the item reports the error; nothing to judge
            return
        try:
            member.checks += [subject.sample_checks(call) for call in new]
        except CheckCallError as exc:
            member.done, member.evidence, member.failure = True, None, exc  # the item reports it in its setup
            return
        samples = measure(
            member.entry, member.calls, member.checks, subject.similar(member.entry.scorer or "token_set_ratio")
        )
        member.evidence = weigh(
            member.entry,
            samples,
            member.names,
            subject.drift,
            subject.latency_tolerance,
            member.evidence,
            member.weights,
            member.looks[-1] if member.looks else None,
        )
        if member.looks is None:
            member.done = True
            return
        member.evidence.calls_if_fixed = member.looks[-1]
        member.rounds += 1
        if member.rounds >= len(member.looks) or self._decided(member):
            member.done = True
            return
        self._submit(member, member.looks[member.rounds] - len(member.calls))

    def _decided(self, member: Member) -> bool:
        """Drift so clear that Benjamini–Hochberg rejects it whatever the other cases show, or no test near
        drift at all (futility, which can only cost power, never false alarms)."""
        evidence = member.evidence
        assert evidence is not None
        drift = member.subject.drift
        lone_bound = drift.alpha / self.family[drift.alpha]
        if any(t.adjusted_p <= lone_bound and t.beyond_tolerance for t in evidence.tests):
            return True
        return evidence.futile()

    def _decide(self, members: list[Member]) -> None:
        from .verdict import decide

        by_alpha: dict[float, list[Member]] = {}
        for member in members:
            by_alpha.setdefault(member.subject.drift.alpha, []).append(member)
        for alpha, group in by_alpha.items():
            family = self.family[alpha]
            rejected = multiple.benjamini_hochberg([m.evidence.p_value for m in group], alpha, family)  # type: ignore[union-attr]
            cutoff = multiple.bh_threshold(sum(rejected), family, alpha) if any(rejected) else None
            for member, reject in zip(group, rejected):
                assert member.evidence is not None
                member.verdict = decide(member.evidence, cutoff if reject else None, family, member.subject.drift)
