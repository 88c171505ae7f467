"""What YAML loading builds: mappings and lists that remember the line of every key and item, and the limits on
values that every loader holds them to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_VALUE_CHARS = 1_000_000  # one string (about 250k tokens)
MAX_NUMBER_CHARS = 100  # the text of one number
MAX_DEPTH = 100  # nesting of collections: deeper input would exhaust the parsers' and validators' stacks


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
