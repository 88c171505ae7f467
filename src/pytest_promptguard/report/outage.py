"""A run that could not measure: its only failures are provider errors that pass by themselves.

A nightly drift job must page someone for drift and try again for an outage. A run is an outage when at least one
case is an error, every case that did not pass is an error, and every failed call of those cases failed in a way
the scheduler retries (a timeout, a lost connection, HTTP 5xx, 408, 409 or 429), until its retries ran out. A
failed check, a drift, an error that needs a person (a key, a bad request, a budget, the application raising) or a
model a check calls (a grader) makes it an ordinary failure. Every report says so in one line; the exit status
that tells a scheduler to retry is opt-in (`--promptguard-outage-exit-code`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.results import CallError, CaseResult
from ..core.wording import counted


@dataclass(frozen=True)
class Outage:
    errors: int  # the cases in error, each for a provider failure that may pass
    causes: dict[str, int]  # cases per cause of their first failed call: "timeout", "HTTP 503", "connection"

    def line(self) -> str:
        causes = ", ".join(f"{count} {cause}" for cause, count in self.causes.items())
        return (
            f"could not measure: {counted(self.errors, 'case')} failed for provider errors that may pass ({causes}) "
            "and nothing else failed: an outage, not a drift; run again later"
        )


def outage_of(results: Sequence[CaseResult]) -> Outage | None:
    """The run's outage, or None when something other than a passing provider failure made it fail (or nothing)."""
    failing = [r for r in results if r.outcome in ("failed", "error")]
    if not failing:
        return None
    causes: Counter[str] = Counter()
    for result in failing:
        errors = [c.error for c in result.calls if c.error is not None]
        if result.outcome != "error" or not errors or not all(e.transient for e in errors):
            return None
        causes[_cause(errors[0])] += 1
    return Outage(len(failing), dict(sorted(causes.items(), key=lambda item: (-item[1], item[0]))))


def _cause(error: CallError) -> str:
    return f"HTTP {error.status}" if error.status is not None else error.kind
