"""Merge the JSON reports of `--promptguard-shard` runs into the report one unsharded run would have written.

A JSON report holds every case result, calls included, so the merge rebuilds the `CaseResult`s and hands them
to the run's own `summarize` and `ReportWriter`: every figure (percentiles, cost by tag, slowest calls,
verdicts, warnings) is computed once more from the calls, by the same code, never added up from the shards'
figures (a p95 of p95s would be wrong). Only what the results cannot tell is merged from the shards: the
golden counts, files written, unused goldens and golden errors.

    python -m pytest_promptguard merge shard-*/promptguard.json --report promptguard.json --md summary.md
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import FORMAT_VERSION, __version__
from ..core.results import CaseResult, GoldenReport, UpdateCounts
from ..report.files import RunInfo


class MergeError(Exception):
    """A report that cannot be merged; the message names the file and what to do."""


@dataclass
class ShardReport:
    """One shard's JSON report, as read."""

    path: Path
    created_at: str
    git_commit: str | None
    mode: str
    goldens: GoldenReport
    cases: list[CaseResult]


@dataclass
class MergedRun:
    """The shards' results in one run: what `summarize` and the report writers need."""

    results: list[CaseResult]
    goldens: GoldenReport
    info: RunInfo
    notes: list[str] = field(default_factory=list)  # what the merge wants the reader to know


def read_report(path: Path) -> ShardReport:
    """A shard's JSON report; MergeError when it is missing, not a promptguard report, or of another format."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(
            f"{path}: cannot read it ({exc.strerror or exc}); pass the path of a --promptguard-report file"
        ) from None
    except ValueError as exc:
        raise MergeError(f"{path}: not JSON ({exc}); pass a file written by --promptguard-report") from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("cases"), list)
        or "format_version" not in document
    ):
        raise MergeError(
            f"{path}: not a promptguard JSON report (no format_version and cases); pass a --promptguard-report file"
        )
    if document["format_version"] != FORMAT_VERSION:
        raise MergeError(
            f"{path}: format_version {document['format_version']}, but pytest-promptguard {__version__} merges "
            "format_version "
            f"{FORMAT_VERSION}: run every shard and the merge with the same pytest-promptguard version"
        )
    try:
        cases = [CaseResult.from_dict(case) for case in document["cases"]]
        goldens = _goldens(document.get("goldens") or {})
    except (TypeError, KeyError, ValueError) as exc:
        raise MergeError(f"{path}: a case or the goldens section is malformed ({exc}); was the file edited?") from None
    return ShardReport(
        path, document.get("created_at", ""), document.get("git_commit"), document.get("mode", "live"), goldens, cases
    )


def _goldens(data: dict[str, Any]) -> GoldenReport:
    return GoldenReport(
        counts=UpdateCounts(**(data.get("counts") or {})),
        written=list(data.get("written") or []),
        unused=list(data.get("unused") or []),
        errors=list(data.get("errors") or []),
    )


def merge_reports(reports: Sequence[ShardReport]) -> MergedRun:
    """One run from the shards' reports. Cases come in order of their file (then as their shard ran them), so
    the merged report does not depend on the order the shards' files are given in.

    Golden counts add up; the files written, unused goldens and errors are united without repeats (a golden file
    whose suite is gone is seen by every shard that ran a suite beside it). MergeError when two reports hold the
    same case (the same shard given twice, or overlapping shards) or when their modes differ."""
    if not reports:
        raise MergeError("no report to merge: pass the JSON reports the shards wrote with --promptguard-report")
    modes = {r.mode for r in reports}
    if len(modes) > 1:
        listing = ", ".join(f"{r.path} ({r.mode})" for r in reports)
        raise MergeError(f"the reports come from runs of different modes: {listing}; merge the shards of one run")
    seen: dict[tuple[str, str, str], Path] = {}
    for report in reports:
        for key in {(r.path, r.case, r.model) for r in report.cases}:
            if key in seen:
                raise MergeError(
                    f"{report.path} and {seen[key]} both hold {key[0]}::{key[1]}[{key[2]}]: pass each shard's report "
                    "once, "
                    "from shards of one --promptguard-shard K/N split"
                )
            seen[key] = report.path
    goldens = GoldenReport()
    for report in reports:
        goldens.counts.add(report.goldens.counts)
        for name in ("written", "unused", "errors"):
            merged: list[str] = getattr(goldens, name)
            merged.extend(entry for entry in getattr(report.goldens, name) if entry not in merged)
    results = sorted((r for report in reports for r in report.cases), key=lambda r: r.path)  # stable: keeps run order
    commits = {r.git_commit for r in reports}
    notes = (
        []
        if len(commits) == 1
        else [f"warning: the shards ran different commits: {', '.join(sorted(map(str, commits)))}"]
    )
    info = RunInfo(max(r.created_at for r in reports), commits.pop() if len(commits) == 1 else None, modes.pop())
    return MergedRun(results, goldens, info, notes)
