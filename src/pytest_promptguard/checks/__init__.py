"""Checks judge one call of one case. Each family lives in its own module and registers itself here."""

from . import (  # noqa: F401 - importing registers the checks
    budgets,
    fuzzy,
    golden,
    jsonpath,
    judge,
    python,
    semantic,
    structured,
    text,
    tools,
)
from .registry import (
    REGISTRY,
    BuildContext,
    BuiltCheck,
    CaseInfo,
    CaseInput,
    Check,
    CheckInput,
    CheckSpecError,
    GoldenRef,
    build_check,
)

__all__ = [
    "REGISTRY",
    "BuildContext",
    "BuiltCheck",
    "CaseInfo",
    "CaseInput",
    "Check",
    "CheckInput",
    "CheckSpecError",
    "GoldenRef",
    "build_check",
]
