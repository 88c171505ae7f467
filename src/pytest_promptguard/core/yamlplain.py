"""The fast path of YAML loading: a plain document built straight from libyaml's events.

PyYAML composes a graph of nodes in Python, then constructs the values from it: for a suite that is most of its
collection time. Nearly every suite, config and golden file is plain YAML: mappings, lists, and scalars that read as
text, numbers, booleans or null, with no anchors, aliases, merge keys or tags. `plain_document` builds such a
document from the C parser's events in one pass, with the values and lines the bounded loader of yamlsource.py would
give. At anything else, or anything wrong (a syntax error, a duplicate key, a value over a limit), it answers
NOT_PLAIN, and the bounded loader reads the text instead, with its precise errors and its hostile-input limits.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from .yamltree import MAX_DEPTH, MAX_NUMBER_CHARS, MAX_VALUE_CHARS, YamlMap, YamlSeq

NOT_PLAIN: Any = object()  # the answer for a document that needs the bounded loader

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + name for name in ("str", "int", "float", "bool", "null"))
_NO_KEY: Any = object()  # a mapping waiting for its next key
_resolve = yaml.resolver.Resolver().resolve  # the tag a plain or quoted scalar implies
_constructor = yaml.constructor.SafeConstructor()
_SCALAR = yaml.ScalarNode


class _NotPlain(Exception):
    pass


def plain_document(text: str) -> Any:
    """The document in `text`, or NOT_PLAIN when it is not plain YAML (see the module's docstring)."""
    if not hasattr(yaml, "CSafeLoader"):
        return NOT_PLAIN  # PyYAML without libyaml: the bounded loader is about as fast as this would be
    parser = yaml.cyaml.CParser(text)
    try:
        return _build(parser)
    except (_NotPlain, yaml.YAMLError):
        return NOT_PLAIN
    finally:
        parser.dispose()


def _build(parser: Any) -> Any:
    next_event = parser.get_event
    next_event()  # the stream's start
    event = next_event()
    if isinstance(event, StreamEndEvent):
        return None  # an empty file
    if event.tags:  # a %TAG directive
        raise _NotPlain
    open_: list[Any] = []  # the collections being filled, innermost last
    keys: list[Any] = []  # per open mapping: its pending key and that key's line, or _NO_KEY
    while True:
        event = next_event()
        kind = type(event)
        if len(open_) >= MAX_DEPTH and kind is not MappingEndEvent and kind is not SequenceEndEvent:
            raise _NotPlain  # one node too deep: the bounded loader says where
        if kind is ScalarEvent:
            value = _scalar(event)
            if open_:
                _add(open_[-1], keys, value, event.start_mark.line + 1)
                continue
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or event.tag not in (None, "!"):
                raise _NotPlain
            value = YamlMap() if kind is MappingStartEvent else YamlSeq()
            value.line = event.start_mark.line + 1
            if open_:
                _add(open_[-1], keys, value, value.line)
            open_.append(value)
            keys.append(_NO_KEY)
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            value = open_.pop()
            keys.pop()
            if open_:
                continue
        else:  # an alias
            raise _NotPlain
        # The document's root is complete.
        if not isinstance(next_event(), DocumentEndEvent) or not isinstance(next_event(), StreamEndEvent):
            raise _NotPlain  # a second document: the bounded loader says so
        return value


def _add(collection: Any, keys: list[Any], value: Any, line: int) -> None:
    """Put `value` (a key, or a key's value, or an item) into the innermost open collection."""
    if type(collection) is YamlSeq:
        collection.append(value)
        collection.lines.append(line)
        return
    pending = keys[-1]
    if pending is _NO_KEY:
        if isinstance(value, (YamlMap, YamlSeq)) or value in collection:
            raise _NotPlain  # a collection as a key, or a duplicate key
        keys[-1] = (value, line)
        return
    key, key_line = pending
    collection[key] = value
    collection.lines[key] = key_line
    keys[-1] = _NO_KEY


def _scalar(event: ScalarEvent) -> Any:
    """A scalar's value, as SafeConstructor builds it from the tag its text implies."""
    text = event.value
    if event.anchor is not None or event.tag not in (None, "!") or len(text) > MAX_VALUE_CHARS:
        raise _NotPlain
    tag = _resolve(_SCALAR, text, event.implicit)
    if tag == _STR:
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _constructor.bool_values[text.lower()]
    if tag not in (_INT, _FLOAT) or len(text) > MAX_NUMBER_CHARS:
        raise _NotPlain  # a timestamp, a merge key, `=`; or a number over the limit
    construct = _constructor.construct_yaml_int if tag == _INT else _constructor.construct_yaml_float
    try:
        number = construct(_SCALAR(tag, text))
    except (ValueError, LookupError, AttributeError, TypeError):
        raise _NotPlain from None
    if isinstance(number, float) and not math.isfinite(number):
        raise _NotPlain
    return number
