"""Per-sample features on examples, and their compact stored form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_promptguard.drift.features import Features, features, is_json, is_refusal


def test_prose():
    f = features("You can return any item within 30 days. Don't panic!\n")
    assert (f.chars, f.lines, f.items, f.markdown, f.json, f.refusal) == (52, 1, 0, False, False, False)
    # words and punctuation marks: You can return any item within 30 days . Don ' t panic !
    assert f.tokens == 14
    assert not f.listed


@pytest.mark.parametrize(
    "text, items",
    [
        ("- one\n- two\n- three", 3),
        ("* one\n* two", 2),
        ("\u2022 one\n\u2022 two", 2),
        ("1. one\n2. two\n3) three", 3),
        ("Steps:\n\n1. one\n2. two\nDone.", 2),
        ("-1 is a number\n- x", 1),  # "-1" is not a bullet
        ("one - two", 0),
    ],
)
def test_list_items(text, items):
    assert features(text).items == items
    assert features(text).listed == (items >= 2)


@pytest.mark.parametrize(
    "text, markdown",
    [
        ("# Title\ntext", True),
        ("some **bold** text", True),
        ("```\ncode\n```", True),
        ("a # not a header", False),
        ("2 * 3 * 4", False),
        ("plain", False),
    ],
)
def test_markdown(text, markdown):
    assert features(text).markdown is markdown


@pytest.mark.parametrize(
    "text, parsed",
    [
        ('{"answer": "yes"}', True),
        ("  [1, 2, 3]\n", True),
        ('```json\n{"a": 1}\n```', True),
        ('```\n{"a": 1}\n```', True),
        ('Here you go: {"a": 1}', False),
        ('"just a string"', False),
        ("42", False),
        ("{not json}", False),
        ('```json\n{"a": 1}\n```\nand more', False),
    ],
)
def test_json(text, parsed):
    assert is_json(text.strip()) is parsed


@pytest.mark.parametrize(
    "text, refusal",
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I\u2019m sorry, but that is not possible.", True),
        ("As an AI, I have no opinions.", True),
        ("I cannot assist with that request.", True),
        ("Unfortunately I am not able to answer questions about returns.", True),
        ("Sorry for the wait! You can return it within 30 days.", False),
        ("You can't return opened software.", False),
    ],
)
def test_refusal_markers(text, refusal):
    assert is_refusal(text) is refusal


def test_empty_output():
    assert features("") == Features(chars=0, tokens=0, lines=0)


def test_stored_form_is_short():
    f = features('- **one**\n- two {"a": 1}')
    assert f.to_dict() == {"chars": 24, "tokens": 15, "lines": 2, "items": 2, "markdown": True}
    assert features("plain text").to_dict() == {"chars": 10, "tokens": 2, "lines": 1}
    assert features(json.dumps({"answer": "I'm sorry, but no."})).to_dict() == {
        "chars": 32,
        "tokens": 16,
        "lines": 1,
        "json": True,
        "refusal": True,
    }


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_round_trip(text):
    f = features(text)
    assert Features.from_dict(f.to_dict()) == f
    assert f.chars == len(text.strip()) and f.lines <= f.chars
