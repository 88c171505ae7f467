"""Reading a promptguard run's terminal output in tests."""

from __future__ import annotations

import re


def unwrapped(text: str) -> str:
    """`text` with the lines promptguard wraps at 100 columns (continued with two spaces) joined again."""
    return re.sub(r"\n {2}(?=\S)", " ", text)


def text_of(result) -> str:
    """The whole output of a run, unwrapped."""
    return unwrapped(result.stdout.str())


def summary(result) -> str:
    """The promptguard section of the output, unwrapped."""
    return unwrapped(result.stdout.str().split("= promptguard =", 1)[-1])


def shows(result, *parts: str) -> None:
    """Every part appears in the output, in this order."""
    text, at = result.stdout.str(), 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"not found after position {at}: {part!r}\n{text}"
        at = found + len(part)
