"""Safe YAML loading that remembers the line of every key and list item (plain documents take the fast path of
yamlplain.py; this bounded loader reads the rest, and explains every problem).

Line numbers let every error point at the spot to fix; duplicate keys are refused instead of the
last one silently winning. Input is bounded (file size, value length, nesting, alias expansion) so that a
hostile file is a clear error, never a crash, a hang or a memory blow-up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from .errors import PromptguardError
from .yamlplain import NOT_PLAIN, plain_document
from .yamltree import MAX_DEPTH, MAX_NUMBER_CHARS, MAX_VALUE_CHARS, YamlMap, YamlSeq

MAX_FILE_BYTES = 10 * 1024 * 1024  # a suite, config or schema file
MAX_ALIAS_NODES = 100_000  # nodes reached again through aliases: bounds a "billion laughs" YAML bomb

_REPARSE_CHARS = 1_000_000  # above this, a syntax error is the C parser's: pure Python would take seconds
_TAG_PREFIX = "tag:yaml.org,2002:"


def _line(node: Any) -> int:
    return node.start_mark.line + 1


def _tag(node: yaml.Node) -> str:
    return "!!" + node.tag[len(_TAG_PREFIX) :] if node.tag.startswith(_TAG_PREFIX) else node.tag


class _Composer(yaml.composer.Composer):
    """PyYAML's composer, bounded: nesting depth, value length and alias expansion are counted as nodes are
    composed, so hostile input is refused before it can exhaust the stack, the memory or the time of later steps.

    (libyaml's own composer recurses in C and crashes the interpreter on deeply nested input.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._nodes = 0  # composed so far, counting aliased ones in full
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its nodes, once it is complete
        self._aliased = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._count_alias(node, event)
            return node
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_VALUE_CHARS:
            raise PromptguardError(
                f"a value of {len(event.value):,} characters is longer than the limit of {MAX_VALUE_CHARS:,}",
                line=_line(event),
                hint="shorten it, or split it into several values",
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise too_deep(_line(event))
        start = self._nodes
        self._nodes += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._nodes - start
        return node

    def _count_alias(self, node: yaml.Node, event: yaml.AliasEvent) -> None:
        size = self._sizes.get(id(node))
        if size is None:  # the anchor's collection is still open: the alias is inside what it names
            raise PromptguardError(
                f"alias *{event.anchor} is inside the value it refers to",
                line=_line(event),
                hint=f"a value cannot contain itself; remove *{event.anchor}",
            )
        self._nodes += size
        self._aliased += size
        if self._aliased > MAX_ALIAS_NODES:
            raise PromptguardError(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes",
                line=_line(event),
                hint="write the values out instead of repeating aliases of aliases",
            )


class _Constructor(yaml.constructor.SafeConstructor):
    """The safe constructor, with a line-numbered error for every value it cannot build."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, LookupError, AttributeError, TypeError) as exc:
            # PyYAML's scalar constructors fail this way on explicit tags (`!!int abc`) and impossible dates.
            raise PromptguardError(
                f"cannot read {_shown(node)} as {_tag(node)}: {exc}",
                line=_line(node),
                hint="correct the value, or quote it if it is text",
            ) from None


def _shown(node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):
        return "the value"
    return repr(node.value if len(node.value) <= 40 else node.value[:39] + "…")


class _Loader(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Composer, _Constructor, yaml.resolver.Resolver
):
    """The pure Python parser: slower, but its syntax errors are the most precise."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


if hasattr(yaml, "CSafeLoader"):

    class _FastLoader(_Composer, yaml.cyaml.CParser, _Constructor, yaml.resolver.Resolver):
        """libyaml's C parser (several times faster on large suites) under the bounded composer."""

        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            _Composer.__init__(self)
            _Constructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # PyYAML built without libyaml
    _FastLoader = _Loader  # type: ignore[misc]


_KINDS = {YamlMap: "a mapping", YamlSeq: "a list"}


def _construct_map(loader: _Constructor, node: yaml.Node) -> YamlMap:
    if not isinstance(node, yaml.MappingNode):
        raise PromptguardError(f"{_tag(node)} needs a mapping", line=_line(node), hint=f"remove the tag {_tag(node)}")
    own = sum(key_node.tag != _TAG_PREFIX + "merge" for key_node, _ in node.value)
    loader.flatten_mapping(node)
    merged = len(node.value) - own  # `<<` merges come first, and what follows them overrides them
    result = YamlMap()
    result.line = _line(node)
    own_lines: dict[Any, int] = {}
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        line = _line(key_node)
        _check_key(key, line)
        if index >= merged:
            if key in own_lines:
                raise PromptguardError(
                    f"duplicate key '{key}' (first at line {own_lines[key]})",
                    line=line,
                    hint="remove one of them; YAML would silently keep only the last",
                )
            own_lines[key] = line
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _check_key(key: Any, line: int) -> None:
    try:
        hash(key)
    except TypeError:
        raise PromptguardError(
            f"a mapping key must be a plain value, not {_KINDS.get(type(key), type(key).__name__)}",
            line=line,
            hint="write the key as text",
        ) from None


def _construct_seq(loader: _Constructor, node: yaml.Node) -> YamlSeq:
    if not isinstance(node, yaml.SequenceNode):
        raise PromptguardError(f"{_tag(node)} needs a list", line=_line(node), hint=f"remove the tag {_tag(node)}")
    result = YamlSeq()
    result.line = _line(node)
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.lines.append(_line(child))
    return result


def _construct_number(loader: _Constructor, node: yaml.Node) -> int | float:
    """Numbers as PyYAML reads them, refused when too long or not finite (JSON, and the schemas, have no inf)."""
    if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_NUMBER_CHARS:
        raise PromptguardError(
            f"a number of {len(node.value):,} characters is longer than the limit of {MAX_NUMBER_CHARS}",
            line=_line(node),
            hint="quote it if it is text",
        )
    if node.tag == _TAG_PREFIX + "int":
        return loader.construct_yaml_int(node)
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise PromptguardError(
            f"{_shown(node)} is not a finite number",
            line=_line(node),
            hint="write a finite number, or quote it if it is text",
        )
    return value


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)
    _loader.add_constructor(_TAG_PREFIX + "int", _construct_number)
    _loader.add_constructor(_TAG_PREFIX + "float", _construct_number)


def read_text(path: Path) -> str:
    """The text of a file the user wrote: refused when larger than MAX_FILE_BYTES or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PromptguardError(
                f"file of {size:,} bytes is larger than the limit of {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                path=path,
                hint="split it into several smaller files",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise PromptguardError(
            f"cannot read file: {exc.strerror}", path=path, hint="check the path and its permissions"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptguardError(
            f"not UTF-8 text (bad byte 0x{data[exc.start]:02x} at offset {exc.start})",
            path=path,
            line=data.count(b"\n", 0, exc.start) + 1,
            hint="save the file as UTF-8",
        ) from None


def too_deep(line: int | None) -> PromptguardError:
    return PromptguardError(f"nested more than {MAX_DEPTH} levels deep", line=line, hint="flatten the structure")


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; any problem becomes a PromptguardError naming the file and line."""
    text = read_text(path)
    data = plain_document(text)  # most files: fast, and the same values and lines
    if data is not NOT_PLAIN:
        return data
    try:
        try:
            return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a SafeConstructor
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):  # newer libyaml stops deep nesting before we count it
                mark = getattr(exc, "problem_mark", None)
                raise too_deep(mark.line + 1 if mark else None) from None
            if len(text) > _REPARSE_CHARS:
                raise
            # Bad input is rare: parse again in pure Python, whose error messages and marks are better.
            return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeConstructor
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
    if "single document" in (exc.context or ""):
        message = f"a second document starts here (a file holds one document; the first starts at line {context_line})"
    elif exc.context and context_line in (None, line):
        message = f"{exc.context}, {problem}"
    elif exc.context:
        message = f"{problem} ({exc.context} at line {context_line})"
    if "\t" in problem or "'\\t'" in problem or "tab character" in problem:
        hint = "indent with spaces; YAML does not allow tabs"
    elif exc.context and "quoted scalar" in exc.context:
        hint = f"close the quote opened at line {context_line}"
    elif exc.context and "flow sequence" in exc.context:
        hint = f"close the '[' opened at line {context_line}, or quote the text if it is not a list"
    elif exc.context and "flow mapping" in exc.context:
        hint = f"close the '{{' opened at line {context_line}, or quote the text if it is not a mapping"
    elif "mapping values are not allowed" in problem:
        hint = "quote a value that contains ': ', or fix the indentation"
    elif "undefined alias" in problem:
        hint = "define the anchor (&name) before the alias (*name) that uses it, or quote a text starting with '*'"
    elif "single document" in (exc.context or ""):
        hint = "keep one document per file: remove the second '---' and what follows, or move it to its own file"
    else:
        hint = "fix the YAML syntax (indentation, quotes, brackets)"
    return message, line, hint
