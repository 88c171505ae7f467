"""A fast yes-or-no JSON Schema check, so that valid documents never pay for jsonschema.

jsonschema walks a suite of 10,000 cases in seconds (an evolved validator and an error generator per node), and
importing it costs a start-up about 0.1 s; almost every document is valid, and then a yes is all that is needed.
`compile_schema` turns a schema into nested closures that answer that yes or no with jsonschema's semantics
(Draft 2020-12, formats not asserted). It knows the keywords the shipped schemas and the checks' argument schemas use;
a schema with any other keyword, or a reference it cannot resolve, compiles to None and is left to jsonschema. When
the answer is no, jsonschema runs as before to find and explain the error: every message stays what it was.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

Predicate = Callable[[Any], bool]

# Keywords that only annotate: jsonschema asserts nothing for them.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"})
_OBJECT = frozenset({"properties", "additionalProperties", "required", "minProperties", "maxProperties"})
_ASSERTIONS = _OBJECT | {
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "pattern",
    "minItems",
    "maxItems",
    "items",
    "propertyNames",
    "allOf",
    "oneOf",
    "if",
    "then",
    "else",
    "$ref",
}


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def _is_integer(value: Any) -> bool:
    """Draft 2020-12: 3 and 3.0 are integers, True is not."""
    return not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))


_TYPES: dict[str, Predicate] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": _is_integer,
}


def equal(one: Any, two: Any) -> bool:
    """jsonschema's equality for `enum` and `const`: True is not 1, and lists and mappings compare item by item."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(equal(one[key], two[key]) for key in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    return one == two


class _Unsupported(Exception):
    """The schema uses what this module does not check: jsonschema judges it."""


def compile_schema(schema: Any) -> Predicate | None:
    """A predicate saying whether a document is valid under `schema`, or None when jsonschema must judge."""
    try:
        return _Compiler(schema).compile(schema)
    except _Unsupported:
        return None


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all(predicates: Sequence[Predicate]) -> Predicate:
    if not predicates:
        return _always
    if len(predicates) == 1:
        return predicates[0]

    def every(value: Any) -> bool:
        for predicate in predicates:
            if not predicate(value):
                return False
        return True

    return every


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, list[Predicate]] = {}  # each reference compiled once; a cell, for recursive ones

    def compile(self, schema: Any, top: bool = True) -> Predicate:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict) or not schema.keys() <= _ANNOTATIONS | _ASSERTIONS:
            raise _Unsupported
        if "$id" in schema and not top:
            raise _Unsupported  # a new base for references within it
        predicates = []
        if "type" in schema:
            predicates.append(self._type(schema["type"]))
        if "$ref" in schema:
            predicates.append(self._ref(schema["$ref"]))
        if "enum" in schema:
            predicates.append(self._enum(schema["enum"]))
        if "const" in schema:
            const = schema["const"]
            predicates.append(lambda value: equal(value, const))
        predicates += self._number(schema) + self._string(schema)
        if _OBJECT & schema.keys() or "propertyNames" in schema:
            predicates.append(self._object(schema))
        if {"minItems", "maxItems", "items"} & schema.keys():
            predicates.append(self._array(schema))
        predicates += [self.compile(each, False) for each in schema.get("allOf", ())]
        if "oneOf" in schema:
            predicates.append(self._one_of([self.compile(each, False) for each in schema["oneOf"]]))
        if "if" in schema:
            predicates.append(self._if(schema))
        return _all(predicates)

    def _type(self, types: Any) -> Predicate:
        names = types if isinstance(types, list) else [types]
        if not all(name in _TYPES for name in names):
            raise _Unsupported
        checks = tuple(_TYPES[name] for name in names)
        if len(checks) == 1:
            return checks[0]
        return lambda value: any(check(value) for check in checks)

    def _ref(self, ref: Any) -> Predicate:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise _Unsupported
        if ref not in self.refs:
            cell: list[Predicate] = []
            self.refs[ref] = cell
            cell.append(self.compile(self._resolve(ref), False))
        cell = self.refs[ref]
        return lambda value: cell[0](value)

    def _resolve(self, ref: str) -> Any:
        """The subschema a `#/a/b` reference names (a JSON pointer into the root schema)."""
        target = self.root
        for part in unquote(ref[1:]).split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                raise _Unsupported
        return target

    def _enum(self, options: Any) -> Predicate:
        if not isinstance(options, list):
            raise _Unsupported
        if all(isinstance(option, str) for option in options):
            texts = frozenset(options)
            return lambda value: isinstance(value, str) and value in texts
        return lambda value: any(equal(option, value) for option in options)

    def _number(self, schema: dict[str, Any]) -> list[Predicate]:
        bounds: list[Callable[[Any], bool]] = []
        if "minimum" in schema:
            low = schema["minimum"]
            bounds.append(lambda value: not value < low)  # as jsonschema words it: NaN passes every bound
        if "maximum" in schema:
            high = schema["maximum"]
            bounds.append(lambda value: not value > high)
        if "exclusiveMinimum" in schema:
            above = schema["exclusiveMinimum"]
            bounds.append(lambda value: not value <= above)
        if "exclusiveMaximum" in schema:
            below = schema["exclusiveMaximum"]
            bounds.append(lambda value: not value >= below)
        if not bounds:
            return []
        within = _all(bounds)
        return [lambda value: not _is_number(value) or within(value)]

    def _string(self, schema: dict[str, Any]) -> list[Predicate]:
        predicates = []
        if "minLength" in schema:
            shortest = schema["minLength"]
            predicates.append(lambda value: not isinstance(value, str) or len(value) >= shortest)
        if "pattern" in schema:
            try:
                search = re.compile(schema["pattern"]).search
            except (re.error, TypeError):
                raise _Unsupported from None
            predicates.append(lambda value: not isinstance(value, str) or search(value) is not None)
        return predicates

    def _object(self, schema: dict[str, Any]) -> Predicate:
        properties = {key: self.compile(sub, False) for key, sub in schema.get("properties", {}).items()}
        additional = schema.get("additionalProperties", True)
        extra = None if additional is True else self.compile(additional, False)
        required = tuple(schema.get("required", ()))
        fewest, most = schema.get("minProperties", 0), schema.get("maxProperties")
        names = self.compile(schema["propertyNames"], False) if "propertyNames" in schema else None

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            if len(value) < fewest or (most is not None and len(value) > most):
                return False
            for key in required:
                if key not in value:
                    return False
            for key, item in value.items():
                if names is not None and not names(key):
                    return False
                sub = properties.get(key)
                if sub is None:
                    if extra is not None and not extra(item):
                        return False
                elif not sub(item):
                    return False
            return True

        return check

    def _array(self, schema: dict[str, Any]) -> Predicate:
        fewest, most = schema.get("minItems", 0), schema.get("maxItems")
        items = self.compile(schema["items"], False) if "items" in schema else _always

        def check(value: Any) -> bool:
            if not isinstance(value, list):
                return True
            if len(value) < fewest or (most is not None and len(value) > most):
                return False
            for item in value:
                if not items(item):
                    return False
            return True

        return check

    def _one_of(self, branches: list[Predicate]) -> Predicate:
        def exactly_one(value: Any) -> bool:
            found = 0
            for branch in branches:
                if branch(value):
                    found += 1
                    if found > 1:
                        return False
            return found == 1

        return exactly_one

    def _if(self, schema: dict[str, Any]) -> Predicate:
        condition = self.compile(schema["if"], False)
        then = self.compile(schema.get("then", True), False)
        otherwise = self.compile(schema.get("else", True), False)
        return lambda value: then(value) if condition(value) else otherwise(value)
