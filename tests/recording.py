"""Read what items report: a conftest for the pytester folder that writes every `report.promptguard`
record to records.jsonl, and a reader of that file."""

from __future__ import annotations

import json
from typing import Any

import pytest

RECORDER = """
import json
def pytest_runtest_logreport(report):
    if getattr(report, "promptguard", None):
        with open("records.jsonl", "a") as f:
            f.write(json.dumps(report.promptguard) + "\\n")
"""


def read_records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    path = pytester.path / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
