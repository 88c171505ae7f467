"""Structured output checks: the output parses as JSON, and conforms to a JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import jsonschema
import referencing.exceptions
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..errors import PromptguardError
from ..yamlsource import load_yaml
from .registry import BuildContext, Check, CheckInput, CheckSpecError, register, result

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\r?\n(.*?)\r?\n?```", re.DOTALL)  # (language, body)


def parse_json_output(text: str) -> tuple[Any, str | None]:
    """The JSON value in `text`, taken whole or from a fenced ```json block; (None, why) when there is none."""
    stripped = text.strip()
    try:
        return json.loads(stripped), None
    except ValueError as exc:
        whole_error = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    fence_error = None
    for language, body in _FENCE.findall(text):  # fences pair up in order, so other code blocks are skipped whole
        if language.lower() not in ("json", ""):
            continue
        try:
            return json.loads(body), None
        except ValueError as exc:
            fence_error = fence_error or f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if fence_error:
        return None, f"the ```json block is not valid JSON: {fence_error}"
    return None, f"output is not JSON: {whole_error}"


@register("json", {"type": "boolean", "const": True, "description": "json: true (a fenced ```json block is accepted)"})
def build_json(argument: bool, context: BuildContext) -> Check:
    def is_json(given: CheckInput) -> Any:
        value, problem = parse_json_output(given.call.text)
        if problem:
            return result("json", False, problem)
        return result("json", True, f"valid JSON ({type(value).__name__})")

    return is_json


def load_schema_file(path: Path) -> Any:
    if path.suffix in (".yaml", ".yml"):
        return load_yaml(path)
    try:
        return json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise PromptguardError(f"schema file is not valid JSON: {exc}", path=path, hint="fix the JSON") from None


def _retrieve(uri: str) -> Resource:
    parsed = urlparse(uri)
    path = Path(url2pathname(parsed.path))
    if parsed.scheme != "file" or not path.is_file():
        raise referencing.exceptions.NoSuchResource(ref=uri)
    try:
        return Resource.from_contents(load_schema_file(path), default_specification=DRAFT202012)
    except PromptguardError:
        raise referencing.exceptions.NoSuchResource(ref=uri) from None


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
        return own + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in _refs(value)]
    return []


def _validator(argument: Any, context: BuildContext) -> jsonschema.protocols.Validator:
    if isinstance(argument, str):
        path = (context.suite_path.parent / argument).resolve()
        if not path.is_file():
            raise CheckSpecError(
                f"schema file {argument} not found (looked at {path})",
                hint="give a path relative to the suite file, or an inline schema",
            )
        try:
            schema = load_schema_file(path)
        except PromptguardError as exc:
            raise CheckSpecError(str(exc)) from None
        base_uri = path.as_uri()
    else:
        schema, base_uri = argument, context.suite_path.resolve().as_uri()
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    problem = jsonschema.exceptions.best_match(cls(cls.META_SCHEMA).iter_errors(schema))
    if problem is not None:
        while problem.context:  # a oneOf/anyOf in the meta-schema: name the concrete cause
            problem = jsonschema.exceptions.best_match(problem.context)
        at = f" at '{problem.json_path}'" if problem.path else ""
        raise CheckSpecError(f"invalid JSON Schema{at}: {problem.message}", hint="fix the schema") from None
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    registry = Registry(retrieve=_retrieve).with_resource(base_uri, resource)
    resolver = registry.resolver(base_uri)
    for ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            raise CheckSpecError(
                f"cannot resolve $ref {ref!r} in the schema",
                hint="$ref local files by a path relative to the schema file",
            ) from None
    return cls({"$ref": base_uri}, registry=registry)


def _path_order(error: jsonschema.ValidationError) -> list[tuple[int, int, str]]:
    """Sort key for errors in document order: array indexes numerically ($[2] before $[10])."""
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]


@register(
    "json_schema",
    {
        "description": "json_schema: a schema file path relative to the suite, or an inline schema",
        "type": ["string", "object"],
    },
)
def build_json_schema(argument: Any, context: BuildContext) -> Check:
    validator = _validator(argument, context)

    def json_schema(given: CheckInput) -> Any:
        value, problem = parse_json_output(given.call.text)
        if problem:
            return result("json_schema", False, problem)
        try:
            errors = sorted(validator.iter_errors(value), key=_path_order)
        except referencing.exceptions.Unresolvable as exc:
            return result("json_schema", False, f"schema $ref cannot be resolved: {exc}")
        if not errors:
            return result("json_schema", True, "output conforms to the schema")
        shown = "; ".join(f"{e.json_path}: {e.message}" for e in errors[:3])
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        return result("json_schema", False, shown + more)

    return json_schema
