"""Read what items report: a conftest for the pytester folder that writes every `report.promptguard`
record to records.jsonl, and a reader of that file."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

_WRITE_RECORD = """
    if getattr(report, "promptguard", None):
        with open("records.jsonl", "a") as f:
            f.write(json.dumps(report.promptguard) + "\\n")
"""
RECORDER = "\nimport json\ndef pytest_runtest_logreport(report):" + _WRITE_RECORD

# RECORDER, and when each item's setup ended (an item waits there for its own calls): for `calls_time_s`.
TIMED_RECORDER = (
    RECORDER
    + """
    if report.when == "setup":
        with open("setups.jsonl", "a") as f:
            f.write(json.dumps(report.stop) + "\\n")
"""
)


def read_records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    path = pytester.path / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def calls_time_s(pytester: pytest.Pytester) -> float:
    """How long a run's calls took, measured where they happen (the run's conftest is TIMED_RECORDER): from the start
    of its first call to the end of the last item's setup, when every call is done. pytest's start-up, collection
    and reports are left out; pytest's walk over the items is in, so the figure can only err on the long side."""
    started = [datetime.fromisoformat(c["started_at"]).timestamp() for r in read_records(pytester) for c in r["calls"]]
    ended = [json.loads(line) for line in (pytester.path / "setups.jsonl").read_text().splitlines()]
    return max(ended) - min(started)
