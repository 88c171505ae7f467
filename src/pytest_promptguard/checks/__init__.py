"""Checks judge one call of one case. Each family lives in its own module and registers itself here."""

from . import budgets, fuzzy, golden, python, structured, text  # noqa: F401 - importing registers the checks
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
    "REGISTRY", "BuildContext", "BuiltCheck", "CaseInfo", "CaseInput", "Check", "CheckInput", "CheckSpecError",
    "GoldenRef", "build_check",
]
