"""The fast path of YAML loading gives exactly what the bounded loader gives (values, their types, every line), or
steps aside: on the corpus, the examples, generated suites, edited suite text, and YAML's corners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_promptguard.core import yamlsource
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.yamlplain import NOT_PLAIN, plain_document
from pytest_promptguard.core.yamltree import MAX_DEPTH, YamlMap, YamlSeq

from .test_corpus import CORPUS
from .test_fuzz_loader import FUZZ, GOOD_SUITE, dump, suites, text_edits

ROOT = Path(__file__).parent.parent
FAILED = object()


def bounded(text: str) -> Any:
    """What the bounded loader makes of `text`, or FAILED."""
    try:
        return yaml.load(text, Loader=yamlsource._FastLoader)  # noqa: S506 - a SafeConstructor
    except (yaml.YAMLError, PromptguardError):
        return FAILED


def same(one: Any, two: Any) -> bool:
    """Equal values of equal types (True is not 1), with equal lines all the way down."""
    if type(one) is not type(two):
        return False
    if isinstance(one, YamlMap):
        return (
            one.line == two.line
            and one.lines == two.lines
            and list(one) == list(two)
            and all(same(one[key], two[key]) for key in one)
        )
    if isinstance(one, YamlSeq):
        return one.line == two.line and one.lines == two.lines and len(one) == len(two) and all(map(same, one, two))
    return one == two


def agrees(text: str) -> bool:
    """The fast path's answer is the bounded loader's, or it steps aside; True when it answered."""
    fast = plain_document(text)
    if fast is NOT_PLAIN:
        return False
    slow = bounded(text)
    assert slow is not FAILED, f"the fast path accepted what the bounded loader refuses:\n{text}"
    assert same(fast, slow), text
    return True


def test_the_corpus_and_the_examples() -> None:
    files = sorted(CORPUS.rglob("*.yaml")) + sorted((ROOT / "examples").rglob("*.yaml"))
    answered = sum(agrees(path.read_bytes().decode("utf-8", "replace")) for path in files)
    assert answered > len(files) / 2  # the fast path is the common one


@FUZZ
@given(data=suites)
def test_generated_suites(data: Any) -> None:
    text = dump(data)
    assert agrees(text) or bounded(text) is FAILED or "&" in text or "!!" in text


@FUZZ
@given(edits=st.lists(text_edits, max_size=4))
def test_edited_suite_text(edits: list[tuple[int, int, str]]) -> None:
    text = GOOD_SUITE
    for position, deleted, inserted in edits:
        text = text[:position] + inserted + text[position + deleted :]
    agrees(text)
    agrees(text.replace("&items ", "").replace("*items", "[1, 2]"))  # without the anchor, often plain


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "---\n",
        "plain text\n",
        "a: 1\nb: [yes, No, ON, off, ~, null, '', \"1\", '0x1F', 0x1F, 0o17, 017, 0b101, 1_000, 1:30, -.5, 1e3, .5]\n",
        "? plain key\n: value\n1: one\n2.5: two\nnull: none\n",
        "cases:\n  - id: a\n    prompt: |\n      line one\n      line two\n    checks: [{contains: x}, json]\n",
        "flow: {a: [1, {b: c}], d: e}\n",
        "%YAML 1.1\n---\na: b\n",
        "- a\n-\n  - b\n  - c\n- {}\n- []\n",
    ],
)
def test_plain_documents_take_the_fast_path(text: str) -> None:
    assert agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # an anchor and an alias
        "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",  # a merge key
        "when: 2024-01-01\n",  # a timestamp
        "a: !!str 1\n",  # a tag
        "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
        "a: 1\na: 2\n",  # a duplicate key
        "1: a\ntrue: b\n",  # keys equal as Python values
        "? [a, b]\n: c\n",  # a list as a key
        "a: .inf\n",
        "n: " + "9" * 101 + "\n",  # a number over the limit
        "a: b\n---\nc: d\n",  # two documents
        "a: [b\n",  # a syntax error
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),  # a list one level too deep
        "[" * MAX_DEPTH + "x" + "]" * MAX_DEPTH,  # a scalar one level too deep
        "a: =\n",
    ],
)
def test_anything_else_is_left_to_the_bounded_loader(text: str) -> None:
    assert plain_document(text) is NOT_PLAIN


def test_the_deepest_plain_nesting_is_the_bounded_loaders_too() -> None:
    assert agrees("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert agrees("[" * (MAX_DEPTH - 1) + "x" + "]" * (MAX_DEPTH - 1))
    assert bounded("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)) is FAILED


def test_load_yaml_reports_what_the_fast_path_steps_aside_from(tmp_path: Path) -> None:
    path = tmp_path / "s.prompt.yaml"
    path.write_text("cases:\n  - id: a\n    id: b\n", encoding="utf-8")
    with pytest.raises(PromptguardError) as caught:
        yamlsource.load_yaml(path)
    assert caught.value.line == 3 and "duplicate key 'id' (first at line 2)" in str(caught.value)
