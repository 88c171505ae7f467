"""How a promptguard item or test ends when it does not pass: the message alone, never a traceback.

Both are pytest outcome exceptions without a traceback; pytest's short summary names an exception by module
and class, and "ModelCallFailed: ..." reads better there than "pytest_promptguard.plugin.outcomes...".
"""

from __future__ import annotations

import pytest


class ModelCallFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """A model call failed (or a model a check calls): raised in setup, an ERROR of the item, not a failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


class ChecksFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """The case did not pass: its checks, its verdict or its latency targets. A FAILURE."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


ModelCallFailed.__module__ = ChecksFailed.__module__ = "builtins"
