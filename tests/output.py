"""Reading a promptguard run's terminal output in tests."""

from __future__ import annotations

import re


def summary(result) -> str:
    """The promptguard section of the output, with lines wrapped at 100 columns joined again."""
    section = result.stdout.str().split("= promptguard =", 1)[-1]
    return re.sub(r"\n {2}(?=\S)", " ", section)


def shows(result, *parts: str) -> None:
    """Every part appears in the output, in this order."""
    text, at = result.stdout.str(), 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"not found after position {at}: {part!r}\n{text}"
        at = found + len(part)
