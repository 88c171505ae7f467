"""The `json_path` check, and the small JSONPath subset it reads: `$`, `.key`, `['key']`, `[index]` (negative
from the end) and `[*]` (every item of an array, every value of an object).

Structured output is judged field by field: "the first item's sku looks like ABC-123" reads better as a check
than as a schema, and fails with the one value that is wrong. A path that matches nothing says how far it got
and what keys were there, since the usual cause is a renamed or misspelt key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..core.similarity import DEFAULT_SCORER, SCORERS, shown, similarity
from .fuzzy import DEFAULT_MIN
from .registry import BuildContext, Check, CheckInput, CheckSpecError, quote, register, result
from .structured import parse_json_output
from .text import compile_regex

_KEY = re.compile(r"[^.\[\]\s'\"]+")  # a key after a dot: anything but the path's own punctuation
_INDEX = re.compile(r"-?\d+")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
MAX_LISTED = 5


class JsonPathError(ValueError):
    """A path that does not parse; the message says where and what was expected."""


@dataclass(frozen=True)
class Step:
    kind: Literal["key", "index", "any"]
    value: str | int | None = None

    def text(self, index: int | None = None) -> str:
        """This step as it reads in a matched path (`index`: the array index or key a `[*]` took)."""
        if self.kind == "index" or (self.kind == "any" and isinstance(index, int)):
            return f"[{index if index is not None else self.value}]"
        key = self.value if self.kind == "key" else index
        if key is None:
            return "[*]"
        return f".{key}" if _IDENTIFIER.match(str(key)) else f"[{json.dumps(str(key), ensure_ascii=False)}]"


def parse_path(path: str) -> tuple[Step, ...]:
    """The steps of `path`; JsonPathError naming the position of the first thing that is not the subset."""
    if not path.startswith("$"):
        raise JsonPathError("a JSON path starts with $ (the whole output)")
    steps, at = [], 1
    while at < len(path):
        char = path[at]
        if char == ".":
            if path.startswith("*", at + 1):
                steps.append(Step("any"))
                at += 2
                continue
            key = _KEY.match(path, at + 1)
            if key is None:
                raise JsonPathError(f"expected a key after '.' at position {at + 1}")
            steps.append(Step("key", key.group()))
            at = key.end()
        elif char == "[":
            step, at = _bracket(path, at + 1)
            steps.append(step)
        else:
            raise JsonPathError(f"unexpected {char!r} at position {at}: expected '.key', ['key'], [index] or [*]")
    return tuple(steps)


def _bracket(path: str, at: int) -> tuple[Step, int]:
    """The step inside `[...]` starting at `at` (just past the bracket), and the position after its `]`."""
    if path.startswith("*]", at):
        return Step("any"), at + 2
    if path[at : at + 1] in ("'", '"'):
        quote_char, key, at = path[at], [], at + 1
        while at < len(path) and path[at] != quote_char:
            if path[at] == "\\" and at + 1 < len(path):
                at += 1
            key.append(path[at])
            at += 1
        if not path.startswith(quote_char + "]", at):
            raise JsonPathError(f"unclosed ['key'] at position {at}: expected {quote_char}]")
        return Step("key", "".join(key)), at + 2
    index = _INDEX.match(path, at)
    if index is None or not path.startswith("]", index.end()):
        raise JsonPathError(f"expected an index, 'key' or * inside [ ] at position {at}")
    return Step("index", int(index.group())), index.end() + 1


@dataclass(frozen=True)
class Match:
    path: str  # the concrete path of the value, e.g. $.items[2].sku
    value: Any


def find(steps: tuple[Step, ...], document: Any) -> tuple[list[Match], str | None]:
    """Every value the steps reach, and, when they reach none, why: where the deepest branch stopped."""
    frontier = [Match("$", document)]
    deepest: tuple[int, str] | None = None
    for depth, step in enumerate(steps):
        reached = []
        for node in frontier:
            found, miss = _step(step, node)
            reached += found
            if miss is not None and (deepest is None or depth >= deepest[0]):
                deepest = (depth, miss)
        frontier = reached
    return frontier, (deepest[1] if deepest and not frontier else None)


def _step(step: Step, node: Match) -> tuple[list[Match], str | None]:
    value, path = node.value, node.path
    if step.kind == "key":
        if isinstance(value, dict) and step.value in value:
            return [Match(path + step.text(), value[step.value])], None
        if isinstance(value, dict):
            keys = list(value)
            listed = ", ".join(str(k) for k in keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
            return [], f"{path} has no key {quote(str(step.value))} (keys: {listed or 'none'})"
        return [], f"{path} is {_article(json_type(value))}, not an object"
    if step.kind == "index":
        if isinstance(value, list):
            index = step.value if step.value >= 0 else len(value) + step.value  # type: ignore[operator]
            if 0 <= index < len(value):
                return [Match(path + step.text(index), value[index])], None
            return [], f"{path} has {len(value)} item{'s' if len(value) != 1 else ''}, no index {step.value}"
        return [], f"{path} is {_article(json_type(value))}, not an array"
    if isinstance(value, dict) and value:
        return [Match(path + step.text(key), child) for key, child in value.items()], None
    if isinstance(value, list) and value:
        return [Match(path + step.text(i), child) for i, child in enumerate(value)], None
    if isinstance(value, (dict, list)):
        return [], f"{path} is an empty {json_type(value)}"
    return [], f"{path} is {_article(json_type(value))}, not an object or array"


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: integer for whole numbers (as JSON Schema counts 1.0), else number."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _has_type(value: Any, wanted: str) -> bool:
    actual = json_type(value)
    return actual == wanted or (wanted == "number" and actual == "integer")


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


def _equal(expected: Any, actual: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_equal(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_equal(e, a) for e, a in zip(expected, actual))
    if _has_type(expected, "number") and _has_type(actual, "number"):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


def _shown(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


ASSERTIONS = ("equals", "regex", "fuzzy", "type", "exists")


@register(
    "json_path",
    {
        "type": "object",
        "description": "json_path: {path: '$.items[0].sku', then equals: value | regex: pattern | fuzzy: text (with "
        "min, scorer) | type: "
        + " | ".join(TYPES)
        + " | exists: true/false}: every value the path matches in the JSON "
        "output must pass; a path matching nothing fails (unless exists: false)",
        "required": ["path"],
        "additionalProperties": False,
        "properties": {
            "path": {
                "type": "string",
                "description": "a JSON path: $ (the output), .key or ['key'], [index] (negative counts from the end), "
                "[*] (every item or value)",
            },
            "equals": {"description": "every match equals this JSON value (1 equals 1.0; true is not 1)"},
            "regex": {"type": "string", "description": "every match is text in which this Python regex is found"},
            "fuzzy": {"type": "string", "description": "every match is text similar to this one (rapidfuzz, min)"},
            "min": {"type": "number", "minimum": 0, "maximum": 100, "description": "fuzzy's least similarity (80)"},
            "scorer": {"enum": list(SCORERS), "description": "fuzzy's scorer (token_set_ratio)"},
            "type": {"enum": list(TYPES), "description": "every match is of this JSON type (integer: a whole number)"},
            "exists": {"type": "boolean", "description": "true: the path matches something; false: it matches nothing"},
        },
    },
)
def build_json_path(argument: dict[str, Any], context: BuildContext) -> Check:
    path = argument["path"]
    try:
        steps = parse_path(path)
    except JsonPathError as exc:
        raise CheckSpecError(
            f"check 'json_path': invalid path {path!r}: {exc}",
            hint="write a path like $.items[0].sku, $['order id'], $.items[-1] or $.items[*].price",
        ) from None
    asserted = [name for name in ASSERTIONS if name in argument]
    if not asserted:
        raise CheckSpecError(
            f"check 'json_path' on {path} asserts nothing",
            hint="add one of: equals, regex, fuzzy, type, exists",
        )
    if argument.get("exists") is False and len(asserted) > 1:
        raise CheckSpecError(
            f"check 'json_path' on {path}: exists: false cannot be combined with "
            + ", ".join(a for a in asserted if a != "exists"),
            hint="a path that must match nothing has no values to judge: use two checks",
        )
    if ("min" in argument or "scorer" in argument) and "fuzzy" not in argument:
        raise CheckSpecError(
            f"check 'json_path' on {path}: min and scorer belong to fuzzy", hint="add fuzzy: expected text"
        )
    regex = compile_regex(argument["regex"]) if "regex" in argument else None
    minimum, scorer = float(argument.get("min", DEFAULT_MIN)), argument.get("scorer", DEFAULT_SCORER)

    def problem(value: Any) -> str | None:
        """What is wrong with one matched value, or None."""
        if "type" in argument and not _has_type(value, argument["type"]):
            return f"{_shown(value)} is {_article(json_type(value))}, not {_article(argument['type'])}"
        if "equals" in argument and not _equal(argument["equals"], value):
            return f"{_shown(value)}, expected {_shown(argument['equals'])}"
        if regex is not None:
            if not isinstance(value, str):
                return f"{_shown(value)} is {_article(json_type(value))}, not text to match /{argument['regex']}/"
            if not regex.search(value):
                return f"{_shown(value)} does not match /{argument['regex']}/"
        if "fuzzy" in argument:
            if not isinstance(value, str):
                return f"{_shown(value)} is {_article(json_type(value))}, not text like {quote(argument['fuzzy'])}"
            score = similarity(argument["fuzzy"], value, scorer)
            if score < minimum:
                like = quote(argument["fuzzy"])
                return f"{_shown(value)} is not like {like} ({scorer} {shown(score):g} < min {minimum:g})"
        return None

    def described() -> str:
        parts = [f"is {_article(argument['type'])}"] if "type" in argument else []
        parts += [f"equals {_shown(argument['equals'])}"] if "equals" in argument else []
        parts += [f"matches /{argument['regex']}/"] if "regex" in argument else []
        parts += [f"is like {quote(argument['fuzzy'])}"] if "fuzzy" in argument else []
        return ", ".join(parts) or "exists"

    def json_path(given: CheckInput) -> Any:
        document, not_json = parse_json_output(given.call.text)
        if not_json:
            return result("json_path", False, not_json)
        matches, miss = find(steps, document)
        if argument.get("exists") is False:
            if not matches:
                return result("json_path", True, f"{path} matches nothing, as expected")
            listed = ", ".join(f"{m.path} = {_shown(m.value, 40)}" for m in matches[:MAX_LISTED])
            return result("json_path", False, f"{path} should match nothing, but matched {listed}")
        if not matches:
            return result("json_path", False, f"{path} matched nothing: {miss}")
        failing = [(m, p) for m in matches if (p := problem(m.value)) is not None]
        count = f"{len(matches)} match{'es' if len(matches) != 1 else ''}"
        if not failing:
            return result("json_path", True, f"{path}: {count}, " + ("each " if len(matches) > 1 else "") + described())
        listed = "; ".join(f"{m.path}: {p}" for m, p in failing[:MAX_LISTED])
        more = f" (+{len(failing) - MAX_LISTED} more)" if len(failing) > MAX_LISTED else ""
        head = f"{len(failing)} of {count} fail: " if len(matches) > 1 else ""
        return result("json_path", False, head + listed + more)

    return json_path
