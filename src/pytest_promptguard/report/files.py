"""The report files: the JSON report, the JSONL call log, the history row. All plain data, all versioned."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import FORMAT_VERSION, __version__
from ..core.fileio import append_line, write_atomic
from ..core.results import CaseResult

if TYPE_CHECKING:
    from .summary import RunSummary


@dataclass(frozen=True)
class RunInfo:
    """When and on what a run happened."""

    created_at: str
    git_commit: str | None
    mode: str  # live | replay | update | candidate

    @classmethod
    def now(cls, rootdir: Path, mode: str) -> RunInfo:
        return cls(
            datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"), git_commit(rootdir), mode
        )


def git_commit(rootdir: Path) -> str | None:
    """The commit under test: CI's own variable, else what git says, else None."""
    for variable in ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=rootdir, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def report_document(summary: RunSummary, results: Sequence[CaseResult], info: RunInfo) -> dict[str, Any]:
    """The run as data, in the format `schemas/report.schema.json` describes."""
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "pytest-promptguard", "version": __version__},
        "created_at": info.created_at,
        "git_commit": info.git_commit,
        "mode": info.mode,
        **summary.to_dict(),
        "cases": [r.to_dict() for r in results],
    }


def write_json_report(path: Path, summary: RunSummary, results: Sequence[CaseResult], info: RunInfo) -> None:
    write_atomic(path, report_chunks(summary, results, info))


def report_chunks(summary: RunSummary, results: Sequence[CaseResult], info: RunInfo) -> Iterator[str]:
    """The text of `report_document`, one case at a time: 10,000 cases make a report of some 15 MB, and building
    it whole (the document, then its text, from millions of pieces) once cost a run more memory than the run itself."""
    head = json.dumps(report_document(summary, (), info), indent=1, ensure_ascii=False)
    yield head.removesuffix("[]\n}").rstrip() + "[\n"
    for index, result in enumerate(results):
        text = json.dumps(result.to_dict(), indent=1, ensure_ascii=False)
        yield ("" if index == 0 else ",\n") + "\n".join("  " + line for line in text.splitlines())
    yield ("\n ]" if results else "]") + "\n}\n"


def call_log_lines(result: CaseResult) -> list[str]:
    """One JSON line per call of a case: the explainability log (what was asked, answered, measured)."""
    lines = []
    for sample, call in enumerate(result.calls):
        line = {
            "format_version": FORMAT_VERSION,
            "time": call.started_at,
            "suite": result.suite,
            "file": result.path,
            "case": result.case,
            "model": call.model,
            "provider": call.provider,
            "model_asked": call.model_asked,
            "model_served": call.model_served,
            "fingerprint": call.fingerprint,
            "sample": sample,
            "latency_ms": call.latency_ms,
            "ttft_ms": call.ttft_ms,
            "tokens_in": call.tokens_in,
            "tokens_out": call.tokens_out,
            "cached_input_tokens": call.usage.cached_input_tokens,
            "cache_write_tokens": call.usage.cache_write_tokens,
            "reasoning_tokens": call.usage.reasoning_tokens,
            "tokens_estimated": call.usage.estimated,
            "cost_usd": call.cost_usd,
            "price_source": call.price_source,
            "priced_as": call.priced_as,
            "attempts": call.attempts,
            "source": call.source,
            "finish_reason": call.finish_reason,
            "error": call.error.__dict__ if call.error else None,
            "outcome": result.outcome,
            "prompt": result.messages,
            "output": call.text,
            "tool_calls": [t.__dict__ for t in call.tool_calls],
        }
        if call.turns:  # a conversation: each reply, and why it stopped early if it did
            line["replies"] = [
                {
                    "output": t.text,
                    "tool_calls": [c.__dict__ for c in t.tool_calls],
                    "latency_ms": t.latency_ms,
                    "ttft_ms": t.ttft_ms,
                    "tokens_in": t.tokens_in,
                    "tokens_out": t.tokens_out,
                    "cost_usd": t.cost_usd,
                }
                for t in call.turns
            ]
            line["stopped"] = call.stopped
        lines.append(_encode_line(line))
    return lines


# Made once: json.dumps(..., ensure_ascii=False) makes an encoder for every line.
_encode_line = json.JSONEncoder(ensure_ascii=False).encode


class CallLog:
    """`--promptguard-log`: lines are written as results arrive, so a long run's log is never held whole, through one
    file kept open until the run ends (opening it again for every case cost more than the writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close(), at the run's end

    def add(self, result: CaseResult) -> None:
        self._file.writelines(line + "\n" for line in call_log_lines(result))

    def close(self) -> None:
        self._file.close()


def history_row(summary: RunSummary, info: RunInfo) -> dict[str, Any]:
    """One run of `--promptguard-history`: per suite and model, what a nightly trend needs, including who
    served it (models and fingerprints) beside how it fared (drift, verdicts, similarity), so a change of
    model can be set against the drift of the same day."""
    return {
        "format_version": FORMAT_VERSION,
        "time": info.created_at,
        "git_commit": info.git_commit,
        "mode": info.mode,
        "groups": [
            {
                "suite": g.suite,
                "model": g.model,
                "cases": g.cases,
                "pass_rate": None if g.pass_rate is None else round(g.pass_rate, 4),
                "drifted": g.drifted,
                "errors": g.errors,
                "mean_similarity": g.mean_similarity,
                "latency_p95_ms": g.latency_p95_ms,
                "cost_usd": g.cost_usd,
                "served": g.served,
                "fingerprints": g.fingerprints,
                "verdicts": g.verdicts,
            }
            for g in summary.groups
        ],
    }


def append_history(path: Path, summary: RunSummary, info: RunInfo) -> None:
    append_line(path, json.dumps(history_row(summary, info), ensure_ascii=False))


def read_history(path: Path) -> list[dict[str, Any]]:
    """The rows of a history file; lines that are not JSON (a torn write, an edit) are skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text("utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("groups"), list):
            rows.append(row)
    return rows
