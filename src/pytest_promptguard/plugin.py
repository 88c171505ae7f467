"""pytest hooks and options only: every hook is thin and hands its work to the run.

Without `--promptguard` only the options are registered: nothing is collected and nothing else runs.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Generator

import pytest

from .items import PromptFile, PromptItem
from .report.terminal import summary_lines
from .results import CaseResult
from .run import Run


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promptguard", "prompt regression suites (pytest-promptguard)")
    group.addoption("--promptguard", action="store_true", help="collect and run *.prompt.yaml suites")
    group.addoption(
        "--promptguard-config", metavar="PATH", type=Path, help="use this promptguard.yaml for every suite"
    )
    parser.addini(
        "promptguard_files", type="args", default=["*.prompt.yaml", "*.prompt.yml"], help="glob patterns of suite files"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("promptguard"):
        config.pluginmanager.register(PromptguardPlugin(config), "promptguard-run")


class PromptguardPlugin:
    """The hooks of one `--promptguard` run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run = Run(config.rootpath, config.getoption("promptguard_config"))
        self.is_worker = hasattr(config, "workerinput")

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> PromptFile | None:
        if not any(fnmatch.fnmatch(file_path.name, p) for p in self.config.getini("promptguard_files")):
            return None
        node = PromptFile.from_parent(parent, path=file_path)
        node.run = self.run
        return node

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.is_worker:
            self.run.prime(session.items)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """A broken suite is a collection error, but the other suites still run."""
        if self.run.collect_errors and session.testsfailed == self.run.collect_errors:
            self.config.option.continue_on_collection_errors = True

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if not isinstance(item, PromptItem) or item.result is None:
            return
        if call.when == "call" or (call.when == "setup" and report.failed):
            item.result.outcome = "error" if call.when == "setup" else ("skipped" if report.skipped else report.outcome)
            report.promptguard = item.result.to_dict()  # type: ignore[attr-defined]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "promptguard", None)
        if data is not None and not self.is_worker:
            self.run.results.append(CaseResult.from_dict(data))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.run.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.run.results:
            return
        terminalreporter.section("promptguard")
        for line in summary_lines(self.run.results):
            terminalreporter.write_line(line)
