"""pytest hooks and options only: every hook is thin and hands its work to the run.

Without `--promptguard` only the options are registered: nothing is collected and nothing else runs.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Generator

import pytest

from .cache import DEFAULT_TTL_S, parse_duration
from .items import PromptFile, PromptItem
from .report.terminal import summary_lines
from .results import CaseResult
from .run import Run, RunOptions
from .scheduler import DEFAULT_CONCURRENCY


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promptguard", "prompt regression suites (pytest-promptguard)")
    group.addoption("--promptguard", action="store_true", help="collect and run *.prompt.yaml suites")
    group.addoption(
        "--promptguard-config", metavar="PATH", type=Path, help="use this promptguard.yaml for every suite"
    )
    group.addoption(
        "--promptguard-concurrency", metavar="N", type=_positive_int, default=DEFAULT_CONCURRENCY,
        help=f"calls in flight at once in each process (default {DEFAULT_CONCURRENCY}); models also have max_concurrency",
    )
    group.addoption(
        "--promptguard-repeat", metavar="N", type=_positive_int, help="sample every call N times (overrides repeat:)"
    )
    group.addoption(
        "--promptguard-max-cost", metavar="USD", type=float,
        help="the most this run may spend (per process under xdist); once spent, no new call is sent",
    )
    group.addoption(
        "--promptguard-cache", action="store_true",
        help="reuse responses to identical requests from .promptguard/cache/ (not timed in latency figures)",
    )
    group.addoption(
        "--promptguard-cache-ttl", metavar="AGE", type=parse_duration, default=DEFAULT_TTL_S,
        help="how long cached responses stay valid: 3600, 90m, 12h, 7d (default 7d)",
    )
    parser.addini(
        "promptguard_files", type="args", default=["*.prompt.yaml", "*.prompt.yml"], help="glob patterns of suite files"
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("promptguard"):
        return
    config.pluginmanager.register(PromptguardPlugin(config), "promptguard-run")
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") == "load":
        from .distribution import XdistHooks

        config.pluginmanager.register(XdistHooks(), "promptguard-xdist")


def _options(config: pytest.Config) -> RunOptions:
    return RunOptions(
        config=config.getoption("promptguard_config"),
        concurrency=config.getoption("promptguard_concurrency"),
        repeat=config.getoption("promptguard_repeat"),
        max_cost_usd=config.getoption("promptguard_max_cost"),
        cache_dir=config.rootpath / ".promptguard" / "cache" if config.getoption("promptguard_cache") else None,
        cache_ttl_s=config.getoption("promptguard_cache_ttl"),
    )


class PromptguardPlugin:
    """The hooks of one `--promptguard` run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run = Run(config.rootpath, _options(config))
        self.is_worker = hasattr(config, "workerinput")

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> PromptFile | None:
        if not any(fnmatch.fnmatch(file_path.name, p) for p in self.config.getini("promptguard_files")):
            return None
        node = PromptFile.from_parent(parent, path=file_path)
        node.run = self.run
        return node

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.is_worker:
            from .distribution import worker_share

            self.run.prime(worker_share(self.config, session.items))
        else:
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
