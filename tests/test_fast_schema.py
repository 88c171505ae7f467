"""The fast schema check says valid exactly when jsonschema does, so skipping jsonschema for valid input loses no
error: on every shipped schema and check argument schema, on generated suites, configs and check arguments (most of
them nearly valid), on the bad-input corpus, and on the corners of JSON Schema's semantics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from jsonschema import Draft202012Validator

from pytest_promptguard.checks import REGISTRY
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.fastschema import compile_schema
from pytest_promptguard.core.validation import shipped_schema
from pytest_promptguard.core.yamlsource import load_yaml

from .test_corpus import CORPUS
from .test_fuzz_loader import FUZZ, checks, configs, suites, values

SHIPPED = ["suite", "config", "report"]


def agree(schema: Any, data: Any) -> None:
    fast = compile_schema(schema)
    assert fast is not None
    assert fast(data) == Draft202012Validator(schema).is_valid(data), data


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_schema_compiles(name: str) -> None:
    assert compile_schema(shipped_schema(name)) is not None


def test_every_check_argument_schema_compiles() -> None:
    assert [name for name, check in REGISTRY.items() if compile_schema(check.schema) is None] == []


@FUZZ
@given(data=suites)
def test_generated_suites(data: Any) -> None:
    agree(shipped_schema("suite"), data)


@FUZZ
@given(data=configs)
def test_generated_configs(data: Any) -> None:
    agree(shipped_schema("config"), data)


@FUZZ
@given(entries=checks, other=values)
def test_generated_check_arguments(entries: list[Any], other: Any) -> None:
    for entry in entries:
        if isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in REGISTRY:
            name, argument = next(iter(entry.items()))
            agree(REGISTRY[name].schema, argument)
            agree(REGISTRY[name].schema, other)


def test_the_corpus() -> None:
    seen = 0
    for path in sorted(CORPUS.rglob("*.yaml")):
        try:
            data = load_yaml(path)
        except PromptguardError:
            continue  # not YAML the schemas ever see
        agree(shipped_schema("config" if path.name == "promptguard.yaml" else "suite"), data)
        seen += 1
    assert seen > 50


@pytest.mark.parametrize(
    ("schema", "valid", "invalid"),
    [
        ({"enum": [1, "a"]}, [1, 1.0, "a"], [True, "b", None]),
        ({"const": False}, [False], [0, None]),
        ({"const": [1, {"a": True}]}, [[1.0, {"a": True}]], [[True, {"a": 1}], [1]]),
        ({"type": "integer"}, [3, 3.0, -1], [True, 3.5, "3"]),
        ({"minimum": 0, "exclusiveMaximum": 1}, [0, 0.5, math.nan, "x"], [-1, 1, 2.0]),
        ({"type": ["string", "null"], "minLength": 2, "pattern": "^a"}, ["ab", None], ["a", "ba", 1]),
        ({"oneOf": [{"type": "string"}, {"minLength": 2}]}, ["a", 5, []], ["ab"]),
        ({"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}}, ["ab", 1], ["a", 1.5]),
        ({"then": {"type": "string"}}, [1], []),  # `then` without `if` asserts nothing
        (
            {
                "type": "object",
                "required": ["a"],
                "properties": {"a": {"type": "string"}},
                "additionalProperties": False,
            },
            [{"a": "x"}],
            [{}, {"a": 1}, {"a": "x", "b": 1}, {1: "x", "a": "x"}],
        ),
        (
            {"additionalProperties": {"type": "integer"}, "maxProperties": 2},
            [{"a": 1}, []],
            [{"a": "x"}, {1: 1, 2: 2, 3: 3}],
        ),
        ({"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1}, [{"ab": 1}], [{}, {"A": 1}]),
        (
            {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
            [[1], [1, 2]],
            [[], [1, "a"], [1, 2, 3]],
        ),
        (
            {
                "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
                "$ref": "#/$defs/node",
            },
            [{"next": {"next": {}}}],
            [{"next": {"next": 1}}],
        ),
        ({"allOf": [{"minimum": 1}, {"maximum": 2}]}, [1, 2, "x"], [0, 3]),
        (True, [None, {}], []),
        (False, [], [None, {}]),
    ],
)
def test_json_schema_corners(schema: Any, valid: list[Any], invalid: list[Any]) -> None:
    fast = compile_schema(schema)
    assert fast is not None
    for expected, examples in ((True, valid), (False, invalid)):
        for value in examples:
            assert Draft202012Validator(schema).is_valid(value) == expected, f"the test is wrong about {value!r}"
            assert fast(value) == expected, value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "date"},  # a keyword it does not know
        {"$ref": "other.json#/a"},  # a reference outside the schema
        {"$ref": "#anchor"},
        {"$defs": {"a": {"$id": "a.json", "type": "string"}}, "$ref": "#/$defs/a"},  # a new base within it
        {"$ref": "#/$defs/missing"},
        {"type": "strin"},
        {"pattern": "(("},
    ],
)
def test_what_it_does_not_know_is_left_to_jsonschema(schema: Any) -> None:
    assert compile_schema(schema) is None


def test_a_suite_with_a_mistake_is_explained_as_before(tmp_path: Path) -> None:
    """The fast check only says no; the message is jsonschema's, explained as it always was."""
    from pytest_promptguard.core.validation import validate

    path = tmp_path / "s.prompt.yaml"
    path.write_text("cases:\n  - id: a\n    prompt: hi\n    repet: 2\n", encoding="utf-8")
    with pytest.raises(PromptguardError) as caught:
        validate(load_yaml(path), "suite", path)
    assert caught.value.line == 4 and "unknown key 'repet'" in str(caught.value) and "'repeat'" in str(caught.value)
