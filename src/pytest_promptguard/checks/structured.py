"""Structured output checks: the output parses as JSON, and conforms to a JSON Schema."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse
from urllib.request import url2pathname

import jsonschema
import referencing.exceptions
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..errors import PromptguardError
from ..yamlsource import MAX_DEPTH, load_yaml, read_text
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
    """A JSON or YAML schema file, under the limits of every file a suite brings (size, nesting, UTF-8)."""
    if path.suffix in (".yaml", ".yml"):
        return load_yaml(path)  # which bounds nesting itself
    try:
        schema = json.loads(read_text(path))
        deep = _depth(schema) > MAX_DEPTH  # deep enough to exhaust the validators' stacks
    except ValueError as exc:
        raise PromptguardError(f"schema file is not valid JSON: {exc}", path=path, hint="fix the JSON") from None
    except RecursionError:  # deeper than the JSON parser itself goes
        deep = True
    if deep:
        raise PromptguardError(f"schema nested more than {MAX_DEPTH} levels deep", path=path, hint="flatten the schema")
    return schema


def _depth(value: Any) -> int:
    """Nesting depth of JSON data, without recursion (the data may be deeper than the stack allows)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        pending += [(child, depth + 1) for child in children]
    return deepest


def _outside(path: Path, rootdir: Path | None) -> bool:
    return rootdir is not None and not path.resolve().is_relative_to(rootdir.resolve())


def _retrieve(rootdir: Path | None, uri: str) -> Resource:
    """Load a `$ref`'d schema file: local files below the rootdir only."""
    parsed = urlparse(uri)
    path = Path(url2pathname(parsed.path))
    if parsed.scheme == "file" and _outside(path, rootdir):
        raise CheckSpecError(
            f"it points outside the repository, to {path} (the pytest rootdir is {rootdir})",
            hint="keep $ref'd schema files inside the repository, beside the schema that uses them",
        )
    if parsed.scheme != "file" or not path.is_file():
        raise referencing.exceptions.NoSuchResource(ref=uri)
    try:
        return Resource.from_contents(load_schema_file(path), default_specification=DRAFT202012)
    except PromptguardError as exc:
        raise CheckSpecError(exc.headline(), exc.hint) from None


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
        return own + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in _refs(value)]
    return []


def _schema_file(argument: str, context: BuildContext) -> tuple[Any, str]:
    """The schema in the file named by `argument` (relative to the suite) and its URI."""
    if "\0" in argument:  # no file has such a name, and the OS refuses to look
        raise CheckSpecError(f"schema file {argument!r} has a NUL character in its name", hint="correct the path")
    path = (context.suite_path.parent / argument).resolve()
    if _outside(path, context.rootdir):
        raise CheckSpecError(
            f"schema file {argument} is outside the repository (it resolves to {path}; the pytest rootdir is "
            f"{context.rootdir})",
            hint="keep schema files inside the repository and give their path relative to the suite file",
        )
    if not path.is_file():
        raise CheckSpecError(
            f"schema file {argument} not found (looked at {path})",
            hint="give a path relative to the suite file, or an inline schema",
        )
    try:
        return load_schema_file(path), path.as_uri()
    except PromptguardError as exc:
        raise CheckSpecError(exc.headline(), exc.hint) from None


def _check_schema(schema: Any) -> type[jsonschema.protocols.Validator]:
    """The validator class for `schema`; raise CheckSpecError when the schema is not a valid JSON Schema."""
    dialect = schema.get("$schema") if isinstance(schema, dict) else None
    if dialect is not None and not isinstance(dialect, str):
        raise CheckSpecError("invalid JSON Schema: '$schema' must be a URI string", hint="fix the schema")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    # Formats are asserted for regexes only: a bad `pattern` would otherwise fail every call, not collection.
    meta = cls(cls.META_SCHEMA, format_checker=jsonschema.FormatChecker(formats=["regex"]))
    problem = jsonschema.exceptions.best_match(meta.iter_errors(schema))
    if problem is not None:
        while problem.context:  # a oneOf/anyOf in the meta-schema: name the concrete cause
            problem = jsonschema.exceptions.best_match(problem.context)
        at = f" at '{problem.json_path}'" if problem.path else ""
        raise CheckSpecError(f"invalid JSON Schema{at}: {problem.message}", hint="fix the schema")
    return cls


def _resolve_refs(schema: Any, base_uri: str, registry: Registry) -> None:
    """Resolve every `$ref` reachable from `schema` now, so that a bad one is a collection error."""
    seen: set[str] = set()
    pending = [(schema, base_uri, registry.resolver(base_uri))]
    while pending:
        subschema, base, resolver = pending.pop()
        for ref in _refs(subschema):
            target = urljoin(base, ref)
            if target in seen:
                continue
            seen.add(target)
            try:
                resolved = resolver.lookup(ref)
            except Exception as exc:  # noqa: BLE001 - referencing fails on some bad pointers with AttributeError
                raise _unresolvable(ref, exc) from None
            pending.append((resolved.contents, urldefrag(target).url, resolved.resolver))


def _unresolvable(ref: str, exc: BaseException) -> CheckSpecError:
    """Why `ref` cannot be resolved: our own reason when retrieving its file failed, else a generic one."""
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, CheckSpecError):
        cause = cause.__cause__
    if cause is not None:
        return CheckSpecError(f"cannot resolve $ref {ref!r} in the schema: {cause.message}", cause.hint)
    return CheckSpecError(
        f"cannot resolve $ref {ref!r} in the schema",
        hint="$ref local files by a path relative to the schema file",
    )


def _validator(argument: Any, context: BuildContext) -> jsonschema.protocols.Validator:
    if isinstance(argument, str):
        schema, base_uri = _schema_file(argument, context)
    else:
        schema, base_uri = argument, context.suite_path.resolve().as_uri()
    cls = _check_schema(schema)
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    retrieve = partial(_retrieve, context.rootdir)
    registry = Registry(retrieve=retrieve).with_resource(base_uri, resource)  # type: ignore[call-arg]
    _resolve_refs(schema, base_uri, registry)
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
