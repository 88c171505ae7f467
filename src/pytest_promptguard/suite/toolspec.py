"""`tools`, `tool_choice` and `response_format` of a suite or a case: checked at collection, then normalised to
one shape that every provider maps to its own wire format.

A bad tool definition must fail before any model is called, naming the file, the line, the case and the fix:
a model given a broken schema either refuses the request (an error that looks like an outage) or, worse, calls
the tool with arguments nobody can check.

Normal forms, sent on every Request and given as they are to a `python` callable (`params["tools"]`, ...):
- a tool: `{"name": str, "description": str, "parameters": JSON Schema}` (description and parameters when given)
- tool_choice: `"auto" | "none" | "required" | {"name": str}`
- response_format: `"json" | {"json_schema": JSON Schema, "name": str, "strict": bool}` (name, strict when given)

The schema checks (checks/structured.py) are imported when a suite declares tools or a response_format: most do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..checks import BuildContext, CheckSpecError
from ..core.errors import PromptguardError
from ..core.repofiles import repository_file
from ..core.yamltree import YamlMap, YamlSeq

TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")  # what OpenAI, Anthropic and Gemini all accept
FORMAT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for a json_schema's name
TOOL_KEYS = ("name", "description", "parameters")
TOOL_SHAPE = "{name, description?, parameters?: a JSON Schema of type object}"


@dataclass(frozen=True)
class RequestOptions:
    """What a suite or a case declares beside its prompt, normalised; the line of its tool_choice points an error
    found only when a case's options meet the suite's (a tool_choice naming a tool the case does not have)."""

    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = None
    response_format: Any = None
    has_tools: bool = False  # `tools:` was declared (an empty list too: it takes the suite's tools away)
    tool_choice_line: int | None = None


def declared_options(owner: YamlMap, context: BuildContext) -> RequestOptions:
    """The options a suite or a case declares itself, each checked on its own."""
    lines = owner.lines
    tools = _tools(owner["tools"], lines["tools"], context) if "tools" in owner else ()
    choice = _plain(owner["tool_choice"]) if "tool_choice" in owner else None
    response_format = None
    if "response_format" in owner:
        response_format = _response_format(owner["response_format"], lines["response_format"], context)
    return RequestOptions(
        tools=tools,
        tool_choice=choice,
        response_format=response_format,
        has_tools="tools" in owner,
        tool_choice_line=lines.get("tool_choice"),
    )


def case_options(case: RequestOptions, suite: RequestOptions) -> RequestOptions:
    """What a case runs with: its own tools, tool_choice and response_format, else the suite's (a case's
    `tools` replaces the suite's whole: one list to read per case). A tool_choice must name a tool it has."""
    own_tools = case.has_tools
    merged = RequestOptions(
        tools=case.tools if own_tools else suite.tools,
        tool_choice=case.tool_choice if case.tool_choice is not None else suite.tool_choice,
        response_format=case.response_format if case.response_format is not None else suite.response_format,
        has_tools=own_tools or suite.has_tools,
        tool_choice_line=case.tool_choice_line if case.tool_choice is not None else suite.tool_choice_line,
    )
    _check_choice(merged)
    return merged


def _check_choice(options: RequestOptions) -> None:
    choice, names = options.tool_choice, [tool["name"] for tool in options.tools]
    if choice is None:
        return
    line = options.tool_choice_line
    if not names:  # APIs refuse a tool_choice without tools, `none` too
        raise PromptguardError(
            f"tool_choice {_shown_choice(choice)} but no tools are declared",
            line=line,
            hint="declare the tools the model may call under 'tools', or remove tool_choice",
        )
    if isinstance(choice, dict) and choice["name"] not in names:
        raise PromptguardError(
            f"tool_choice names tool '{choice['name']}', which is not among the tools ({', '.join(names)})",
            line=line,
            hint=f"name one of: {', '.join(names)}",
        )


def _shown_choice(choice: Any) -> str:
    return f"{{name: {choice['name']}}}" if isinstance(choice, dict) else str(choice)


# -- tools ---------------------------------------------------------------------------------------------------------


def _tools(value: Any, line: int, context: BuildContext) -> tuple[dict[str, Any], ...]:
    """Every tool of a `tools:` list (items inline or `{file: path}`) or of a `tools: {file: path}`, checked, in
    order; no two with one name."""
    from ..checks.structured import file_reference

    reference = file_reference(value)
    if reference is not None:
        entries = [(tool, line, reference) for tool in _tools_file(reference, line, context)]
    else:
        entries = []
        for index, item in enumerate(value):
            item_line = value.lines[index] if isinstance(value, YamlSeq) else line
            item_reference = file_reference(item)
            if item_reference is not None:
                entries += [
                    (tool, item_line, item_reference) for tool in _tools_file(item_reference, item_line, context)
                ]
            else:
                entries.append((item, item_line, None))
    tools, seen = [], {}
    for raw, where, source in entries:
        tool = _tool(raw, where, source)
        name = tool["name"]
        if name in seen:
            first = f"line {seen[name]}" if seen[name] != where else "the same entry"
            raise PromptguardError(
                f"duplicate tool name '{name}'{_from(source)} (first declared at {first})",
                line=where,
                hint="give every tool a unique name: the model calls tools by name",
            )
        seen[name] = where
        tools.append(tool)
    return tuple(tools)


def _tools_file(reference: str, line: int, context: BuildContext) -> list[Any]:
    """The tools in a JSON or YAML file: one tool (a mapping) or a list of them."""
    from ..checks.structured import load_schema_file

    try:
        path = repository_file(
            reference,
            context.suite_path.parent,
            context.rootdir,
            kind="tools file",
            missing_hint="give a path relative to the suite file, or write the tools inline",
        )
        data = load_schema_file(path)
    except PromptguardError as exc:
        raise PromptguardError(exc.headline(), line=line, hint=exc.hint) from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and data:
        return list(data)
    raise PromptguardError(
        f"tools file {reference} holds {'an empty list' if data == [] else type(data).__name__}, not tools",
        line=line,
        hint=f"write one tool {TOOL_SHAPE}, or a list of them, in the file",
    )


def _from(source: str | None) -> str:
    return f" in tools file {source}" if source else ""


def _tool(raw: Any, line: int, source: str | None) -> dict[str, Any]:
    """One tool in normal form. Also takes the OpenAI shape `{type: function, function: {...}}`, so a tools file
    written for that API can be used as it is."""
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("function"), dict):
        raw = raw["function"]
    where = _from(source)
    if not isinstance(raw, dict):
        raise PromptguardError(
            f"a tool{where} is {type(raw).__name__}, not a mapping", line=line, hint=f"write a tool as {TOOL_SHAPE}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        problem = "has no name" if name is None else f"has the name {name!r}"
        raise PromptguardError(
            f"a tool{where} {problem}",
            line=line,
            hint="name it with letters, digits, '_' and '-' (at most 64, starting with a letter or '_'): "
            "what every provider accepts",
        )
    label = f"tool '{name}'{where}"
    unknown = [key for key in raw if key not in TOOL_KEYS]
    if unknown:
        raise PromptguardError(
            f"{label} has unknown key '{unknown[0]}'", line=line, hint=f"write a tool as {TOOL_SHAPE}"
        )
    if "description" in raw and not isinstance(raw["description"], str):
        raise PromptguardError(
            f"{label}: description must be a string", line=line, hint="describe what the tool does, in words"
        )
    tool: dict[str, Any] = {"name": name}
    if "description" in raw:
        tool["description"] = raw["description"]
    if "parameters" in raw:
        tool["parameters"] = _parameters(raw["parameters"], label, line)
    return tool


def _parameters(schema: Any, label: str, line: int) -> dict[str, Any]:
    """A tool's parameters: a valid, self-contained JSON Schema of an object (every provider takes arguments as
    one object, and a schema is sent to the model as it is: a `$ref` to another file cannot be followed there)."""
    hint = (
        "give parameters as a JSON Schema: {type: object, properties: {order_id: {type: string}}, required: [order_id]}"
    )
    from ..checks.structured import check_schema

    if not isinstance(schema, dict):
        raise PromptguardError(
            f"{label}: parameters is {type(schema).__name__}, not a JSON Schema", line=line, hint=hint
        )
    try:
        check_schema(schema)
    except CheckSpecError as exc:
        message = exc.message.replace("invalid JSON Schema", f"{label}: parameters is not a valid JSON Schema", 1)
        raise PromptguardError(message, line=line, hint=hint) from None
    if schema.get("type") != "object":
        raise PromptguardError(
            f"{label}: parameters must describe an object (type: object), not {schema.get('type', 'anything')}",
            line=line,
            hint="the model passes a tool's arguments as one object: " + hint,
        )
    _self_contained(schema, f"{label}: parameters", line)
    return _plain(schema)


def _self_contained(schema: Any, label: str, line: int | None) -> None:
    foreign = next((ref for ref in _refs(schema) if not ref.startswith("#")), None)
    if foreign is not None:
        raise PromptguardError(
            f"{label} has $ref {foreign!r} to another file: a schema sent to a model must be self-contained",
            line=line,
            hint="move the referenced schema under $defs and $ref it as '#/$defs/name'",
        )


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [ref for child in value.values() for ref in _refs(child)]
    if isinstance(value, list):
        return [ref for child in value for ref in _refs(child)]
    return []


# -- response_format -----------------------------------------------------------------------------------------------


def _response_format(value: Any, line: int, context: BuildContext) -> Any:
    """`json`, or `{json_schema: schema | path | {file: path}, name?, strict?}` with the schema loaded and checked."""
    if value == "json":
        return "json"
    from ..checks.structured import check_schema, file_reference, load_schema_file

    argument = value["json_schema"]
    reference = file_reference(argument) or (argument if isinstance(argument, str) else None)
    if reference is not None:
        try:
            path = repository_file(
                reference,
                context.suite_path.parent,
                context.rootdir,
                kind="schema file",
                missing_hint="give a path relative to the suite file, or an inline schema",
            )
            schema = load_schema_file(path)
        except PromptguardError as exc:
            raise PromptguardError(f"response_format: {exc.headline()}", line=line, hint=exc.hint) from None
    else:
        schema = argument
    label = "response_format: json_schema" + (f" {reference}" if reference else "")
    try:
        check_schema(schema)
    except CheckSpecError as exc:
        message = exc.message.replace("invalid JSON Schema", f"{label} is not a valid JSON Schema", 1)
        raise PromptguardError(message, line=line, hint="fix the schema") from None
    _self_contained(schema, label, line)
    name = value.get("name")
    if name is not None and not FORMAT_NAME.match(name):
        raise PromptguardError(
            f"response_format: name {name!r} is not allowed",
            line=line,
            hint="name the format with letters, digits, '_' and '-' (at most 64)",
        )
    normal: dict[str, Any] = {"json_schema": _plain(schema)}
    normal.update({key: value[key] for key in ("name", "strict") if key in value})
    return normal


def _plain(value: Any) -> Any:
    """Plain dicts and lists (not the YAML loader's line-keeping kinds): what a request carries and hashes."""
    if isinstance(value, dict):
        return {str(key): _plain(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_plain(child) for child in value]
    return value
