"""Validate YAML data against the shipped JSON Schemas and explain the first problem in plain words.

Valid data is recognised by the fast check of fastschema.py; jsonschema is imported and run only for data that check
rejects, to find and explain the problem.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PromptguardError
from .fastschema import Predicate, compile_schema
from .yamltree import line_of

if TYPE_CHECKING:
    import jsonschema

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


@cache
def shipped_schema(name: str) -> dict:
    """A JSON Schema shipped in the package (`schemas/<name>.schema.json`)."""
    text = resources.files("pytest_promptguard").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _fast_check(name: str) -> Predicate | None:
    return compile_schema(shipped_schema(name))


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(shipped_schema(name))


def _is_type(value: Any, schema_type: str) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator.TYPE_CHECKER.is_type(value, schema_type)


def suggest(word: str, choices: Sequence[str]) -> str:
    """' (did you mean 'x'?)' when a close choice exists, else ''."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def dotted(path: Sequence[Any]) -> str:
    """`cases[2].checks[0]` from a jsonschema path."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _type_name(value: Any) -> str:
    for schema_type, name in _TYPE_NAMES.items():
        if schema_type != "integer" and _is_type(value, schema_type):
            return name
    return type(value).__name__


def _unknown_key(error: jsonschema.ValidationError) -> Any:
    allowed = error.schema.get("properties", {})
    return next((key for key in error.instance if key not in allowed), "?")


def _explain(error: jsonschema.ValidationError, described: str | None) -> tuple[str, str | None]:
    """Message and hint; `described` is the nearest description above the error, the hint of last resort."""
    where = dotted(error.absolute_path)
    at = f" at '{where}'" if where else ""
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        key = _unknown_key(error)
        return f"unknown key '{key}'{at}{suggest(str(key), allowed)}", f"use one of: {', '.join(allowed)}"
    if error.validator == "required":
        name = next((p for p in error.validator_value if p not in error.instance), "?")
        wanted = error.schema.get("properties", {}).get(name, {}).get("description")
        return f"'{name}' is required{at}", f"add '{name}'" + (f" — {wanted}" if wanted else "")
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        return f"'{where or 'the file'}' must be {names}, not {_type_name(error.instance)}", (
            error.schema.get("description") or described or f"write {names} here"
        )
    if error.validator == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return f"'{error.instance}'{at} is not allowed{suggest(error.instance, error.validator_value)}", (
            f"use one of: {options}"
        )
    if error.validator == "pattern":
        return f"'{error.instance}'{at} does not match {error.validator_value}", (
            error.schema.get("description") or described
        )
    if error.validator in ("minItems", "minProperties") and not error.instance:
        return f"'{where}' is empty", error.schema.get("description") or described
    return f"{error.message}{at}", error.schema.get("description") or described


def _nearest_description(error: jsonschema.ValidationError) -> str | None:
    """The description of the nearest oneOf/anyOf above a branch's error, e.g. what a check looks like."""
    parent = error.parent
    while parent is not None:
        if isinstance(parent.schema, dict) and parent.schema.get("description"):
            return parent.schema["description"]
        parent = parent.parent
    return None


def _fits(error: jsonschema.ValidationError) -> bool:
    """Whether the value is of a type the erring schema declares: that branch of a oneOf is the one meant."""
    declared = error.schema.get("type") if isinstance(error.schema, dict) else None
    if declared is None:
        return False
    types = declared if isinstance(declared, list) else [declared]
    return any(_is_type(error.instance, t) for t in types)


def _branch_error(errors: Sequence[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    """The error to explain among a oneOf/anyOf's branches. A branch whose type fits the value is the one the
    author meant (a mapping with a misspelt key is a misspelt `{file: ...}`, not a misplaced string), and in it an
    unknown key goes before a missing one: the unknown key is usually the missing one, misspelt."""
    fitting = [error for error in errors if _fits(error)]
    unknown = [error for error in fitting if error.validator == "additionalProperties"]
    from jsonschema.exceptions import best_match

    return best_match(unknown or fitting or errors)  # type: ignore[return-value]


def validate(
    data: Any, schema_name: str, path: Path, case_of: Callable[[Sequence[Any]], str | None] | None = None
) -> None:
    """Raise a PromptguardError for the most relevant schema violation in `data`, if any.

    `case_of(where)` names the case that the data at `where` (keys and indexes) belongs to, if any.
    """
    fast = _fast_check(schema_name)
    if fast is not None and fast(data):
        return
    from jsonschema.exceptions import best_match

    error = best_match(_validator(schema_name).iter_errors(data))
    if error is None:
        return
    # best_match may pick a branch of oneOf/anyOf; report the deepest concrete cause.
    while error.context:
        error = _branch_error(error.context)
    message, hint = _explain(error, _nearest_description(error))
    if not hint:  # every error names a fix; the shipped schema is the reference of last resort
        entry = dotted(error.absolute_path) or "the top level"
        hint = f"see '{entry}' in pytest_promptguard/schemas/{schema_name}.schema.json"
    where = list(error.absolute_path)
    if error.validator == "additionalProperties":
        where.append(_unknown_key(error))
    line = line_of(data, where) or 1  # None only for a document that is a plain value: the file as a whole
    raise PromptguardError(message, path=path, line=line, case=case_of(where) if case_of else None, hint=hint)
