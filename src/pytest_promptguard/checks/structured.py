"""Structured output checks: the output parses as JSON, and conforms to a JSON Schema.

jsonschema and referencing are imported when a suite first asks for a schema: most runs never do, and importing them
costs a start-up about 0.1 s.
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin, urlparse

from ..core.errors import PromptguardError
from ..core.repofiles import outside_repository, repository_file
from ..core.yamlsource import load_yaml, read_text
from ..core.yamltree import MAX_DEPTH
from .registry import BuildContext, Check, CheckInput, CheckSpecError, register, result

if TYPE_CHECKING:
    import jsonschema
    from referencing import Registry, Resource

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


def _retrieve(rootdir: Path | None, uri: str) -> Resource:
    """Load a `$ref`'d schema file: local files below the rootdir only."""
    from urllib.request import url2pathname

    from referencing import Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    parsed = urlparse(uri)
    path = Path(url2pathname(parsed.path))
    if parsed.scheme == "file" and outside_repository(path, rootdir):
        raise CheckSpecError(
            f"it points outside the repository, to {path} (the pytest rootdir is {rootdir})",
            hint="keep $ref'd schema files inside the repository, beside the schema that uses them",
        )
    if parsed.scheme != "file" or not path.is_file():
        raise NoSuchResource(ref=uri)
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
    try:
        path = repository_file(
            argument,
            context.suite_path.parent,
            context.rootdir,
            kind="schema file",
            missing_hint="give a path relative to the suite file, or an inline schema",
        )
        return load_schema_file(path), path.as_uri()
    except PromptguardError as exc:
        raise CheckSpecError(exc.headline(), exc.hint) from None


def check_schema(schema: Any) -> type[jsonschema.protocols.Validator]:
    """The validator class for `schema`; raise CheckSpecError when the schema is not a valid JSON Schema."""
    import jsonschema

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


def file_reference(argument: Any) -> str | None:
    """The path of `{file: path}` (a mapping of that one key), or None: how a suite names a file where an
    inline value could stand too. A JSON Schema of the single keyword `file` would mean nothing."""
    if isinstance(argument, dict) and len(argument) == 1 and isinstance(argument.get("file"), str):
        return argument["file"]
    return None


def schema_validator(argument: Any, context: BuildContext) -> jsonschema.protocols.Validator:
    """A validator for a schema given as a path, as `{file: path}` or inline; CheckSpecError when it is not a
    valid JSON Schema or a `$ref` in it cannot be resolved, so that a mistake shows at collection."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    argument = file_reference(argument) or argument
    if isinstance(argument, str):
        schema, base_uri = _schema_file(argument, context)
    else:
        schema, base_uri = argument, context.suite_path.resolve().as_uri()
    cls = check_schema(schema)
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    retrieve = partial(_retrieve, context.rootdir)
    registry = Registry(retrieve=retrieve).with_resource(base_uri, resource)  # type: ignore[call-arg]
    _resolve_refs(schema, base_uri, registry)
    return cls({"$ref": base_uri}, registry=registry)


def _path_order(error: jsonschema.ValidationError) -> list[tuple[int, int, str]]:
    """Sort key for errors in document order: array indexes numerically ($[2] before $[10])."""
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]


MAX_VIOLATIONS = 10  # listed in a failure; the rest are counted: past ten, one more rarely tells anything new


def violations(
    validator: jsonschema.protocols.Validator, value: Any, limit: int = MAX_VIOLATIONS
) -> tuple[list[str], str | None]:
    """Every way `value` breaks the schema, in document order, each with its JSON path
    (`$.items[2].price: -1 is less than the minimum of 0`), then `(+N more)` past `limit`; or, when a `$ref` cannot
    be resolved while checking, no violations and why."""
    from referencing.exceptions import Unresolvable

    try:
        errors = sorted(validator.iter_errors(value), key=_path_order)
    except Unresolvable as exc:
        return [], str(exc)
    lines = [f"{e.json_path}: {_short(e.message)}" for e in errors[:limit]]
    return lines + ([f"(+{len(errors) - limit} more)"] if len(errors) > limit else []), None


def _short(message: str, limit: int = 160) -> str:
    """A violation's message, cut: jsonschema quotes the offending value whole, which may be a whole document."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


@register(
    "json_schema",
    {
        "description": "json_schema: a schema file path relative to the suite, {file: path}, or an inline schema",
        "type": ["string", "object"],
    },
)
def build_json_schema(argument: Any, context: BuildContext) -> Check:
    validator = schema_validator(argument, context)

    def json_schema(given: CheckInput) -> Any:
        value, problem = parse_json_output(given.call.text)
        if problem:
            return result("json_schema", False, problem)
        found, unresolvable = violations(validator, value)
        if unresolvable is not None:
            return result("json_schema", False, f"schema $ref cannot be resolved: {unresolvable}")
        if not found:
            return result("json_schema", True, "output conforms to the schema")
        more = f" {found.pop()}" if found[-1].startswith("(+") else ""
        return result("json_schema", False, "; ".join(found) + more)

    return json_schema
