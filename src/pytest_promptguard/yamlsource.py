"""Safe YAML loading that remembers the line of every key and list item.

Line numbers let every error point at the spot to fix; duplicate keys are refused instead of the
last one silently winning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import PromptguardError


class YamlMap(dict):
    """A mapping from YAML with `line` (of the mapping) and `lines` (of each key)."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}


class YamlSeq(list):
    """A sequence from YAML with `line` (of the sequence) and `lines` (of each item)."""

    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []


class _Loader(yaml.SafeLoader):
    """The safe loader in pure Python: slower, but its syntax errors are the most precise."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's C parser when PyYAML has it (several times faster on large suites)."""


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    result = YamlMap()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in result
        except TypeError:
            raise PromptguardError(
                f"a mapping key must be a plain value, not {type(key).__name__}", line=line
            ) from None
        if duplicate:
            raise PromptguardError(
                f"duplicate key '{key}' (first at line {result.lines[key]})",
                line=line,
                hint="remove one of them; YAML would silently keep only the last",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> YamlSeq:
    result = YamlSeq()
    result.line = node.start_mark.line + 1
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.lines.append(child.start_mark.line + 1)
    return result


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; any problem becomes a PromptguardError naming the file and line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptguardError(
            f"not UTF-8 text (bad byte at offset {exc.start})", path=path, hint="save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise PromptguardError(f"cannot read file: {exc.strerror}", path=path) from None
    try:
        try:
            return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a SafeLoader
        except yaml.YAMLError:
            # Bad input is rare: parse again in pure Python, whose error messages and marks are better.
            return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except PromptguardError as exc:
        raise exc.located(path) from None
    except yaml.MarkedYAMLError as exc:
        message, line, hint = _explain_syntax_error(exc, len(text))
        raise PromptguardError(f"invalid YAML: {message}", path=path, line=line, hint=hint) from None
    except yaml.reader.ReaderError as exc:
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise PromptguardError(
            f"invalid YAML: unacceptable character {character!r} ({exc.reason})",
            path=path,
            line=text.count("\n", 0, exc.position) + 1,
            hint="remove it, or write it as an escape such as \\x01 in a double-quoted string",
        ) from None
    except yaml.YAMLError as exc:
        raise PromptguardError(f"invalid YAML: {exc}", path=path, hint="fix the YAML syntax") from None


def _explain_syntax_error(exc: yaml.MarkedYAMLError, length: int) -> tuple[str, int | None, str]:
    """Message, line and hint for a syntax error.

    The line is where the parser gave up, unless that is the end of the file (an unclosed quote or
    bracket): then it is where the unclosed construct starts.
    """
    problem = exc.problem or str(exc)
    problem_line = exc.problem_mark.line + 1 if exc.problem_mark else None
    context_line = exc.context_mark.line + 1 if exc.context_mark else None
    at_end = exc.problem_mark is None or exc.problem_mark.index >= length
    line = context_line if at_end and context_line else problem_line
    message = problem
    if exc.context and context_line in (None, line):
        message = f"{exc.context}, {problem}"
    elif exc.context:
        message = f"{problem} ({exc.context} at line {context_line})"
    if "\t" in problem or "'\\t'" in problem:
        hint = "indent with spaces; YAML does not allow tabs"
    elif exc.context and "quoted scalar" in exc.context:
        hint = f"close the quote opened at line {context_line}"
    elif exc.context and "flow sequence" in exc.context:
        hint = f"close the '[' opened at line {context_line}, or quote the text if it is not a list"
    elif exc.context and "flow mapping" in exc.context:
        hint = f"close the '{{' opened at line {context_line}, or quote the text if it is not a mapping"
    elif "mapping values are not allowed" in problem:
        hint = "quote a value that contains ': ', or fix the indentation"
    else:
        hint = "fix the YAML syntax (indentation, quotes, brackets)"
    return message, line, hint


def line_of(data: Any, path: Iterable[Any]) -> int | None:
    """The line of the deepest element of `data` reachable along `path` (keys and indexes)."""
    line = getattr(data, "line", None) or None
    node = data
    for step in path:
        if isinstance(node, YamlMap) and step in node:
            line = node.lines.get(step, line)
            node = node[step]
        elif isinstance(node, YamlSeq) and isinstance(step, int) and 0 <= step < len(node):
            line = node.lines[step]
            node = node[step]
        else:
            break
    return line
