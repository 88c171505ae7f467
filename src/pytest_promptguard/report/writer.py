"""Writes the report files a run asked for, in the one process that sees every result.

The writers of the HTML, Markdown and screenshot are imported when a report asks for them, at the session's end:
a run that asks for none never pays for importing them (at every start, where bytecode is not cached).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import display_path
from ..core.fileio import append_line, write_atomic
from ..core.results import CaseResult
from .files import CallLog, RunInfo, append_history, read_history, write_json_report

if TYPE_CHECKING:
    from .summary import RunSummary


class ReportWriter:
    """Writes the reports of a run, or of shards merged by `python -m pytest_promptguard merge` (the same
    writers for both, so a merged report cannot compute a figure differently)."""

    def __init__(
        self,
        rootdir: Path,
        mode: str,
        *,
        json_path: Path | None = None,
        html_path: Path | None = None,
        md_path: Path | None = None,
        history_path: Path | None = None,
        log_path: Path | None = None,
        want_screenshot: bool = False,
    ) -> None:
        self.rootdir = rootdir
        self.json_path = json_path
        self.html_path = html_path
        self.md_path = md_path
        self.history_path = history_path
        self.want_screenshot = want_screenshot
        self.mode = mode
        self.written: list[str] = []
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.call_log = self._attempt(log_path, lambda: CallLog(log_path)) if log_path else None

    def add(self, result: CaseResult) -> None:
        """Log a case's calls as soon as its result arrives."""
        if self.call_log is not None:
            self.call_log.add(result)

    def finish(self, summary: RunSummary, results: Sequence[CaseResult], info: RunInfo | None = None) -> None:
        """Write every report asked for; `info` is the run's (a merge passes the shards'), else now's."""
        info = info or RunInfo.now(self.rootdir, self.mode)
        if self.call_log is not None and self._attempt(self.call_log.path, self.call_log.close) is not None:
            self.written.append(display_path(self.call_log.path))
        if self.json_path:
            self._write(self.json_path, lambda: write_json_report(self.json_path, summary, results, info))
        text = ""
        if self.md_path or os.environ.get("GITHUB_STEP_SUMMARY"):
            from .markdown import markdown

            text = markdown(summary, results)
        if self.md_path:
            self._write(self.md_path, lambda: write_atomic(self.md_path, text))
        if os.environ.get("GITHUB_STEP_SUMMARY"):  # GitHub Actions shows what steps append to this file
            step_summary = Path(os.environ["GITHUB_STEP_SUMMARY"])
            self._attempt(step_summary, lambda: append_line(step_summary, text))
        if self.history_path:
            self._write(self.history_path, lambda: append_history(self.history_path, summary, info))
        if self.html_path:
            from .html import html_report

            history = read_history(self.history_path) if self.history_path else []
            page = html_report(summary, results, info.created_at, info.git_commit, history)
            if self._write(self.html_path, lambda: write_atomic(self.html_path, page)) and self.want_screenshot:
                from .browser import screenshot

                png = self.html_path.with_suffix(".png")
                problem = screenshot(self.html_path, png)
                if problem:
                    self.notes.append(f"warning: no screenshot of the HTML report: {problem}")
                else:
                    self.written.append(display_path(png))

    def _write(self, path: Path, write: Callable[[], object]) -> bool:
        if self._attempt(path, write) is None:
            return False
        self.written.append(display_path(path))
        return True

    def _attempt(self, path: Path, action: Callable[[], object]) -> object | None:
        try:
            return action() or True
        except OSError as exc:
            self.errors.append(f"cannot write {display_path(path)}: {exc.strerror or exc}")
            return None

    def lines(self) -> list[str]:
        lines = [f"error: {error}" for error in self.errors] + self.notes
        if self.written:
            lines.append(f"reports: {', '.join(self.written)}")
        return lines
