"""A Python test's promptguard result on its report: the one part of the `promptguard` fixture that the run's hooks
need, apart from fixture.py, so that a run whose tests never use the fixture never imports it (at every start where
bytecode is not cached, pytest rewrites and compiles each module it imports)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    from ..core.results import CaseResult


class FinishedFixture(Protocol):
    """The fixture of one test (fixture.py's PromptGuard), as its reports see it."""

    def finished(self, when: str, report: pytest.TestReport) -> CaseResult | None: ...


FIXTURE = pytest.StashKey[FinishedFixture]()  # on the test item: its fixture, read by the makereport hook


def attach_fixture_result(item: pytest.Item, when: str, report: pytest.TestReport) -> None:
    """Put the CaseResult of a test that called models through the fixture on its report, as `report.promptguard`
    (at the call phase, or at setup when setup failed), as a suite's item does: it crosses xdist workers."""
    fixture = item.stash.get(FIXTURE, None)
    if fixture is None or not (when == "call" or (when == "setup" and report.failed)):
        return
    result = fixture.finished(when, report)
    if result is not None:
        report.promptguard = result.to_dict()  # type: ignore[attr-defined]
