"""Plain text checks: equals, contains and friends, regular expressions."""

from __future__ import annotations

import difflib
import re
from typing import Any

from .registry import BuildContext, Check, CheckInput, CheckSpecError, quote, register, result

_ONE_OR_MANY = {
    "description": "a string, or a list of strings",
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
}


def unified_diff(expected: str, actual: str, expected_name: str = "expected", actual_name: str = "output") -> str:
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), expected_name, actual_name, lineterm="", n=2
    )
    return "\n".join(lines)


def _as_list(argument: Any) -> list[str]:
    return [argument] if isinstance(argument, str) else list(argument)


@register("equals", {"type": "string", "description": "equals: the exact expected output (ends stripped)"})
def build_equals(expected: str, context: BuildContext) -> Check:
    def equals(given: CheckInput) -> Any:
        output = given.call.text.strip()
        if output == expected.strip():
            return result("equals", True, "output equals the expected text")
        return result(
            "equals",
            False,
            f"output {quote(output)} differs from {quote(expected)}",
            diff=unified_diff(expected.strip(), output),
        )

    return equals


def _containment(name: str, needles: list[str], *, fold: bool, want: str) -> Check:
    def contains(given: CheckInput) -> Any:
        text = given.call.text.casefold() if fold else given.call.text
        found = [n for n in needles if (n.casefold() if fold else n) in text]
        missing = [n for n in needles if n not in found]
        if want == "all":
            passed, reason = not missing, f"missing {', '.join(quote(n) for n in missing)}"
        elif want == "any":
            passed, reason = bool(found), f"none of {', '.join(quote(n) for n in needles)} appears"
        else:  # none
            passed, reason = not found, f"found {', '.join(quote(n) for n in found)}"
        return result(name, passed, f"{name} holds" if passed else reason)

    return contains


@register("contains", {**_ONE_OR_MANY, "description": "contains: a string or a list (all must appear)"})
def build_contains(argument: Any, context: BuildContext) -> Check:
    return _containment("contains", _as_list(argument), fold=False, want="all")


@register("icontains", {**_ONE_OR_MANY, "description": "icontains: like contains, ignoring case"})
def build_icontains(argument: Any, context: BuildContext) -> Check:
    return _containment("icontains", _as_list(argument), fold=True, want="all")


@register("contains_any", {**_ONE_OR_MANY, "description": "contains_any: a list; at least one must appear"})
def build_contains_any(argument: Any, context: BuildContext) -> Check:
    return _containment("contains_any", _as_list(argument), fold=False, want="any")


@register("not_contains", {**_ONE_OR_MANY, "description": "not_contains: a string or a list; none may appear"})
def build_not_contains(argument: Any, context: BuildContext) -> Check:
    return _containment("not_contains", _as_list(argument), fold=False, want="none")


def compile_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}, or thousands of nested groups
        raise CheckSpecError(
            f"invalid regular expression {pattern[:80]!r}: {exc}",
            hint="fix the pattern (Python `re` syntax; quote it in single quotes in YAML)",
        ) from None


def _regex(name: str, pattern: str, *, negate: bool) -> Check:
    compiled = compile_regex(pattern)

    def regex(given: CheckInput) -> Any:
        match = compiled.search(given.call.text)
        if negate:
            if match:
                return result(name, False, f"/{pattern}/ matched {quote(match.group(0))}")
            return result(name, True, f"/{pattern}/ does not match")
        if match:
            return result(name, True, f"/{pattern}/ matched {quote(match.group(0))}")
        return result(name, False, f"/{pattern}/ does not match the output")

    return regex


@register("regex", {"type": "string", "description": "regex: a Python regular expression that must match"})
def build_regex(pattern: str, context: BuildContext) -> Check:
    return _regex("regex", pattern, negate=False)


@register("not_regex", {"type": "string", "description": "not_regex: a Python regular expression that must not match"})
def build_not_regex(pattern: str, context: BuildContext) -> Check:
    return _regex("not_regex", pattern, negate=True)
