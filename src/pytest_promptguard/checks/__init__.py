"""Checks judge one call of one case. Each family lives in its own module and registers its checks in the registry,
which imports a family when a suite first names one of its checks."""

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
