"""Custom checks in Python: `module:function` called with the output text and the case."""

from __future__ import annotations

from typing import Any

from ..core.errors import PromptguardError
from ..providers.python import resolve_callable
from .registry import BuildContext, Check, CheckInput, CheckSpecError, register, result

_REFERENCE = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$"}


@register(
    "python",
    {
        "description": "python: 'module:function', or {function: 'module:function', min: 0-1}; "
        "the function gets (output, case) and returns bool, a 0-1 score, or (bool, message)",
        "oneOf": [
            _REFERENCE,
            {
                "type": "object",
                "required": ["function"],
                "additionalProperties": False,
                "properties": {"function": _REFERENCE, "min": {"type": "number", "minimum": 0, "maximum": 1}},
            },
        ],
    },
)
def build_python(argument: Any, context: BuildContext) -> Check:
    reference = argument if isinstance(argument, str) else argument["function"]
    minimum = None if isinstance(argument, str) else argument.get("min")
    try:
        function = resolve_callable(reference)
    except PromptguardError as exc:
        raise CheckSpecError(exc.message, exc.hint) from None

    def python(given: CheckInput) -> Any:
        try:
            verdict = function(given.call.text, given.case)
        except Exception as exc:  # noqa: BLE001 - a broken custom check fails the case, with its reason
            return result("python", False, f"{reference} raised {type(exc).__name__}: {_one_line(exc)}")
        return _interpret(reference, verdict, minimum)

    return python


def _one_line(text: object, limit: int = 300) -> str:
    """`text` on one line (a reason is one line), cut at `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _interpret(reference: str, verdict: Any, minimum: float | None) -> Any:
    if isinstance(verdict, tuple) and len(verdict) == 2:
        passed, message = verdict
        return result("python", bool(passed), f"{reference}: {_one_line(message)}")
    if isinstance(verdict, bool):
        return result("python", verdict, f"{reference} returned {verdict}")
    if isinstance(verdict, (int, float)):
        threshold = 1.0 if minimum is None else minimum
        passed = verdict >= threshold
        return result(
            "python",
            passed,
            f"{reference} scored {verdict:g} {'>=' if passed else '<'} min {threshold:g}",
            score=float(verdict),
        )
    return result(
        "python", False, f"{reference} returned {type(verdict).__name__}; return bool, a 0-1 score or (bool, message)"
    )
