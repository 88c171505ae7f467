"""Tool-call checks: which tools the model called, in what order, with what arguments.

An agent's answer is often no text at all but a call: `lookup_order(order_id="A-17")`. These checks judge the
calls every provider records (`Call.tool_calls`, in order, arguments parsed), and a failure says what was called
instead, so the fix (the prompt, the tool's description) is plain from the reason alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.results import ToolCall
from ..core.similarity import DEFAULT_SCORER, SCORERS, shown, similarity
from .fuzzy import DEFAULT_MIN
from .registry import BuildContext, Check, CheckInput, CheckSpecError, quote, register, result
from .structured import schema_validator, violations
from .text import compile_regex

MAX_SHOWN_CALLS = 5

# -- how a call reads in a reason ----------------------------------------------------------------------------------


def call_text(call: ToolCall, limit: int = 80) -> str:
    """`lookup_order(order_id="A-17", verbose=true)`, cut at `limit` characters."""
    if isinstance(call.arguments, dict):
        inside = ", ".join(f"{key}={_json(value)}" for key, value in call.arguments.items())
    elif call.arguments is None:
        inside = ""
    else:
        inside = _json(call.arguments)
    text = f"{call.name}({inside})"
    return text if len(text) <= limit else text[: limit - 2] + "…)"


def calls_text(calls: Sequence[ToolCall]) -> str:
    """`lookup_order(order_id="A-17"), escalate()`, at most five, or `no tool` when there are none."""
    if not calls:
        return "no tool"
    shown_calls = ", ".join(call_text(call) for call in calls[:MAX_SHOWN_CALLS])
    more = f" (+{len(calls) - MAX_SHOWN_CALLS} more)" if len(calls) > MAX_SHOWN_CALLS else ""
    return shown_calls + more


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


# -- expected arguments: exact, fuzzy, regex, nested subsets -------------------------------------------------------

Matcher = Callable[[Any, str], list[str]]  # (actual value, its path) -> what is wrong, [] when it matches


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _is_fuzzy(value: Any) -> bool:
    return isinstance(value, dict) and "fuzzy" in value and set(value) <= {"fuzzy", "min", "scorer"}


def _is_regex(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"regex"}


def matcher(expected: Any, where: str = "$") -> Matcher:
    """A matcher for one expected value, built once (so a bad regex or fuzzy spec is a collection error):
    `{fuzzy: text, min, scorer}` and `{regex: pattern}` match strings loosely; another mapping matches an object
    holding at least its keys, each matched the same way; a list matches a list of as many items, item by item;
    anything else matches an equal value of the same JSON type (true is not 1)."""
    if _is_fuzzy(expected):
        return _fuzzy_matcher(expected, where)
    if _is_regex(expected):
        return _regex_matcher(expected["regex"], where)
    if isinstance(expected, dict):
        children = {key: matcher(value, f"{where}.{key}") for key, value in expected.items()}
        return _object_matcher(children)
    if isinstance(expected, list):
        return _list_matcher([matcher(value, f"{where}[{i}]") for i, value in enumerate(expected)])
    return _exact_matcher(expected)


def _fuzzy_matcher(spec: dict[str, Any], where: str) -> Matcher:
    text, minimum, scorer = spec["fuzzy"], spec.get("min", DEFAULT_MIN), spec.get("scorer", DEFAULT_SCORER)
    if not isinstance(text, str):
        raise CheckSpecError(
            f"{where}: fuzzy needs a text, not {_kind(text)}", hint="write {fuzzy: expected text, min: 85}"
        )
    if isinstance(minimum, bool) or not isinstance(minimum, (int, float)) or not 0 <= minimum <= 100:
        raise CheckSpecError(
            f"{where}: fuzzy min must be a number from 0 to 100, not {minimum!r}", hint="write {fuzzy: text, min: 85}"
        )
    if scorer not in SCORERS:
        raise CheckSpecError(f"{where}: unknown fuzzy scorer {scorer!r}", hint=f"use one of: {', '.join(SCORERS)}")

    def match(actual: Any, path: str) -> list[str]:
        if not isinstance(actual, str):
            return [f"{path}: expected text like {quote(text)}, got {_kind(actual)} {_json(actual)}"]
        score = similarity(text, actual, scorer)
        if score >= minimum:
            return []
        return [f"{path}: {quote(actual)} is not like {quote(text)} ({scorer} {shown(score):g} < min {minimum:g})"]

    return match


def _regex_matcher(pattern: Any, where: str) -> Matcher:
    if not isinstance(pattern, str):
        raise CheckSpecError(f"{where}: regex needs a pattern, not {_kind(pattern)}", hint="write {regex: '^A-\\d+$'}")
    compiled = compile_regex(pattern)

    def match(actual: Any, path: str) -> list[str]:
        if not isinstance(actual, str):
            return [f"{path}: expected text matching /{pattern}/, got {_kind(actual)} {_json(actual)}"]
        return [] if compiled.search(actual) else [f"{path}: {quote(actual)} does not match /{pattern}/"]

    return match


def _object_matcher(children: dict[str, Matcher]) -> Matcher:
    def match(actual: Any, path: str) -> list[str]:
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {_kind(actual)} {_json(actual)}"]
        problems = []
        for key, child in children.items():
            if key not in actual:
                present = ", ".join(actual) or "none"
                problems.append(f"{path}.{key}: missing (arguments given: {present})")
            else:
                problems += child(actual[key], f"{path}.{key}")
        return problems

    return match


def _list_matcher(items: list[Matcher]) -> Matcher:
    def match(actual: Any, path: str) -> list[str]:
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {_kind(actual)} {_json(actual)}"]
        if len(actual) != len(items):
            return [f"{path}: expected {len(items)} items, got {len(actual)} {_json(actual)}"]
        return [
            problem for i, (child, value) in enumerate(zip(items, actual)) for problem in child(value, f"{path}[{i}]")
        ]

    return match


def _exact_matcher(expected: Any) -> Matcher:
    def match(actual: Any, path: str) -> list[str]:
        if _kind(actual) == _kind(expected) and actual == expected:
            return []
        return [f"{path}: expected {_json(expected)}, got {_json(actual)}"]

    return match


# -- tool_call -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Judged:
    call: ToolCall
    problems: list[str]


@register(
    "tool_call",
    {
        "type": "object",
        "description": "tool_call: {name: tool, arguments: {key: value | {fuzzy: text, min: 0-100} | "
        "{regex: pattern}}, "
        "arguments_schema: an inline JSON Schema, a schema file path or {file: path}}: some call of that tool whose "
        "arguments hold the given ones (nested objects as subsets too) and fit the schema",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "description": "the tool some call must be of"},
            "arguments": {
                "type": "object",
                "description": "arguments the call must have, a subset of those it gave: each value exact (same JSON "
                "type), {fuzzy: text, min: 0-100 (80), scorer} or {regex: pattern}; a nested object is a subset too",
            },
            "arguments_schema": {
                "type": ["object", "string"],
                "description": "a JSON Schema the call's arguments must validate against: inline, a file path "
                "relative to the suite, or {file: path}",
            },
        },
    },
)
def build_tool_call(argument: dict[str, Any], context: BuildContext) -> Check:
    name = argument["name"]
    expected = matcher(argument["arguments"]) if "arguments" in argument else None
    validator = schema_validator(argument["arguments_schema"], context) if "arguments_schema" in argument else None

    def judge(call: ToolCall) -> _Judged:
        problems: list[str] = []
        arguments = call.arguments
        if (expected or validator) and not isinstance(arguments, dict):
            return _Judged(call, [f"$: the arguments are not a JSON object: {_json(arguments)[:80]}"])
        if expected is not None:
            problems += expected(arguments, "$")
        if validator is not None:
            found, unresolvable = violations(validator, arguments)
            problems += found
            if unresolvable is not None:
                problems.append(f"the arguments schema's $ref cannot be resolved: {unresolvable}")
        return _Judged(call, problems)

    def tool_call(given: CheckInput) -> Any:
        calls = given.call.tool_calls
        candidates = [judge(call) for call in calls if call.name == name]
        if not candidates:
            return result("tool_call", False, f"{name} was not called; called: {calls_text(calls)}")
        passing = next((c for c in candidates if not c.problems), None)
        if passing is not None:
            return result("tool_call", True, f"called {call_text(passing.call)}")
        closest = min(candidates, key=lambda c: len(c.problems))
        times = f" (closest of {len(candidates)} calls)" if len(candidates) > 1 else ""
        return result("tool_call", False, f"{call_text(closest.call)}{times}: " + "; ".join(closest.problems))

    return tool_call


# -- no_tool_call, tool_calls --------------------------------------------------------------------------------------


@register(
    "no_tool_call",
    {
        "const": True,
        "description": "no_tool_call: true (or a bare `- no_tool_call`): passes only when no tool was called",
    },
)
def build_no_tool_call(argument: bool, context: BuildContext) -> Check:
    def no_tool_call(given: CheckInput) -> Any:
        calls = given.call.tool_calls
        if not calls:
            return result("no_tool_call", True, "no tool was called")
        return result(
            "no_tool_call", False, f"called {len(calls)} tool{'s' if len(calls) > 1 else ''}: {calls_text(calls)}"
        )

    return no_tool_call


@register(
    "tool_calls",
    {
        "type": "object",
        "description": "tool_calls: {sequence: [tool, ...], exact: false}: the tools called in this order; with "
        "exact: false (the default) other calls may come between and around them, with exact: true they are all the "
        "calls",
        "required": ["sequence"],
        "additionalProperties": False,
        "properties": {
            "sequence": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 1},
                "description": "tool names in the order they must be called",
            },
            "exact": {"type": "boolean", "description": "true: exactly these calls, no others (default false)"},
        },
    },
)
def build_tool_calls(argument: dict[str, Any], context: BuildContext) -> Check:
    sequence, exact = list(argument["sequence"]), bool(argument.get("exact", False))
    wanted = " → ".join(sequence)

    def tool_calls(given: CheckInput) -> Any:
        names = [call.name for call in given.call.tool_calls]
        called = " → ".join(names) or "no tool"
        if exact:
            if names == sequence:
                return result("tool_calls", True, f"called exactly {wanted}")
            return result("tool_calls", False, f"expected exactly {wanted}; called {called}")
        found = _subsequence_prefix(sequence, names)
        if found == len(sequence):
            return result("tool_calls", True, f"called {wanted} in order (of {called})")
        after = f" after {sequence[found - 1]}" if found else ""
        missing = f"{sequence[found]} was not called{after}"
        return result("tool_calls", False, f"expected {wanted} in order: {missing}; called {called}")

    return tool_calls


def _subsequence_prefix(sequence: Sequence[str], names: Sequence[str]) -> int:
    """How many of `sequence` appear in `names` in order (greedy, which finds the longest such prefix)."""
    found = 0
    for name in names:
        if found < len(sequence) and name == sequence[found]:
            found += 1
    return found
