"""The hooks of one `--promptguard` run: each is thin and hands its work to the run."""

from __future__ import annotations

import fnmatch
import gc
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..core.results import CaseResult
from ..run.judging import CaseJudge
from .fixture_report import attach_fixture_result
from .items import DriftItem, PromptFile, PromptItem
from .options import outage_exit_code, report_writer, start_run

if TYPE_CHECKING:
    from ..report.summary import RunSummary


class PromptguardPlugin:
    """The hooks of one `--promptguard` run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run = start_run(config)
        self.is_worker = hasattr(config, "workerinput")
        self.reports = None if self.is_worker else report_writer(config, self.run.options)
        self.summary: RunSummary | None = None
        self.dry_run: list[str] = []  # the dry run's table
        self.outage_exit_code = None if self.is_worker else outage_exit_code(config)
        self.exit_note: str | None = None  # why the run exits with the outage status
        # This process's own results, by (node id, phase), from their report until it is logged: read back from the
        # report's plain data only when it crossed from an xdist worker.
        self._own: dict[tuple[str, str], CaseResult] = {}

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> PromptFile | None:
        if not any(fnmatch.fnmatch(file_path.name, p) for p in self.config.getini("promptguard_files")):
            return None
        return PromptFile.from_parent(parent, path=file_path)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, Any, None]:
        """The garbage collector pauses while the suites are collected: 10,000 cases build some 350,000 objects and
        no garbage cycles (measured), and its full passes over that growing heap took a third of the collection's
        CPU. Once collected, the plan is frozen out of its sight (pytest_collection_finish)."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if enabled:
                gc.enable()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # The collection (items, suites, configs) lives until the session ends: move it out of the garbage
        # collector's sight, or every full collection during the run, and the five pytest forces at exit,
        # walk it again (with 10,000 cases: seconds of a --collect-only that itself takes about five).
        if gc.get_freeze_count():  # an earlier session of this process (pytester's in-process runs): free it now
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        unknown = None if self.is_worker else self.run.unknown_candidates()  # (an xdist controller collects nothing)
        if unknown is not None:
            raise pytest.UsageError(unknown)
        if self.config.option.collectonly:
            return  # listing the items must never call (or pay for) a model
        selected = _judges(session.items)
        if self.run.options.dry_run:
            from ..run.dryrun import estimate, lines

            self.dry_run = lines(estimate(selected), len(session.items) - len(selected))
            return
        if self.is_worker:
            from .xdist import worker_share

            self.run.prime(_judges(worker_share(self.config, session.items)), selected)
        else:
            self.run.prime(selected, selected)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """A broken suite is a collection error, but the other suites still run. A dry run runs nothing."""
        if self.run.collect_errors and session.testsfailed == self.run.collect_errors:
            self.config.option.continue_on_collection_errors = True
        if self.run.options.dry_run and not session.testsfailed:
            return True
        return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if isinstance(item, DriftItem):
            if call.when == "call" and item.record is not None:
                report.promptguard_suite = item.record  # type: ignore[attr-defined]
            return
        if not isinstance(item, PromptItem):
            attach_fixture_result(item, call.when, report)  # a Python test that called models through the fixture
            return
        if item.result is None:
            return
        if call.when == "call" or (call.when == "setup" and report.failed):
            result = item.result
            result.outcome = "error" if call.when == "setup" else ("skipped" if report.skipped else report.outcome)
            report.promptguard = result.to_dict()  # type: ignore[attr-defined]
            if self.reports is not None:
                self._own[report.nodeid, report.when] = result

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        suite_verdict = getattr(report, "promptguard_suite", None)
        if suite_verdict is not None and self.reports is not None:
            self.run.suite_verdicts.append(suite_verdict)
        data = getattr(report, "promptguard", None)
        if data is not None and self.reports is not None:
            result = self._own.pop((report.nodeid, report.when), None) or CaseResult.from_dict(data)
            self.run.results.append(result)
            self.reports.add(result)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.run.close()
        if self.is_worker:
            _freeze_the_run()
            return
        self.run.finish()
        assert self.reports is not None
        from ..report.summary import summarize  # at the end, not at every start (see report/writer.py)

        self.summary = summarize(self.run.results, self.run.goldens.report, self.run.suite_verdicts)
        self.reports.finish(self.summary, self.run.results)
        if self.run.goldens.report.errors or self.reports.errors:
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED  # goldens or reports asked for but not written
        elif self._is_outage(session):
            session.exitstatus = self.outage_exit_code
            self.exit_note = f"exit status {self.outage_exit_code}: an outage (--promptguard-outage-exit-code)"
        _freeze_the_run()

    def _is_outage(self, session: pytest.Session) -> bool:
        """The outage status applies: asked for, and the run failed for its outage's errors alone (no other test,
        collection error or suite failed beside them)."""
        outage = self.summary.outage if self.summary else None
        return (
            self.outage_exit_code is not None
            and outage is not None
            and session.exitstatus == pytest.ExitCode.TESTS_FAILED
            and session.testsfailed == outage.errors
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.dry_run:
            terminalreporter.section("promptguard dry run")
            for line in self.dry_run:
                terminalreporter.write_line(line)
            return
        if self.summary is None or not (self.run.results or self.summary.goldens.errors or self.reports.errors):  # type: ignore[union-attr]
            return
        from ..report.terminal import summary_lines

        quiet = self.config.get_verbosity() < 0
        if not quiet:
            terminalreporter.section("promptguard")
        notes = [self.exit_note] if self.exit_note else []
        for line in summary_lines(self.summary, quiet=quiet) + self.reports.lines() + notes:  # type: ignore[union-attr]
            terminalreporter.write_line(line)


def _freeze_the_run() -> None:
    """The run's results and reports live until the process ends: collect its garbage now, as pytest would at exit
    (pass after pass while one finds any), then move what is left out of the garbage collector's sight, so that the
    five full passes pytest makes at exit walk only what is new since (with 2,000 cases they took 5% of the run)."""
    for _ in range(5):
        if not gc.collect():
            break
    gc.freeze()


def _judges(items: Sequence[pytest.Item]) -> list[CaseJudge]:
    """The judges of the suites' items that will run (skipped items are never called)."""
    return [i.judge for i in items if isinstance(i, PromptItem) and i.get_closest_marker("skip") is None]
