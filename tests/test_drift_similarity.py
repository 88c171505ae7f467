"""The verdicts' similarity sees a bullet list, a JSON wrapper, padding and a dropped sentence, which
token_set_ratio scores 100, while paraphrases of one answer keep about the score token_set_ratio gives them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz, utils

from pytest_promptguard.drift.features import features
from pytest_promptguard.drift.similarity import form_agreement, similarity, similarity_matrix

SENTENCES = [
    "You can return any item within 30 days of delivery.",
    "You will get a full refund, and it usually takes five working days.",
    "Have your order number ready.",
]
ANSWER = " ".join(SENTENCES)
CHANGES = {
    "bullet list": "\n".join(f"- {s}" for s in SENTENCES),
    "JSON wrapper": json.dumps({"answer": ANSWER}),
    "padding": ANSWER + " I hope this helps, and thank you for reaching out to us today.",
    "dropped sentence": f"{SENTENCES[0]} {SENTENCES[2]}",
}
PARAPHRASES = [
    "To return an item, open the returns page within 30 days of delivery. Expect a full refund within five "
    "working days. Have your order number ready.",
    "Sure! You can return any item within 30 days of delivery. You will get a full refund, and it typically "
    "takes five working days.",
    "Returns are accepted for 30 days after delivery. Once processed you'll receive a full refund, usually "
    "within five working days.",
    f"Good question! {ANSWER}",
]
REFUSAL = "I'm sorry, but I can't help with returns."


def token_set(a: str, b: str) -> float:
    return fuzz.token_set_ratio(a, b, processor=utils.default_process)


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_format_change_lowers_the_score(change):
    changed = CHANGES[change]
    assert token_set(ANSWER, changed) == 100  # the golden check's default scorer cannot see it
    assert similarity(ANSWER, changed) <= 90  # measured: list 72, JSON 84, padding 88, dropped 79


@pytest.mark.parametrize("paraphrase", PARAPHRASES)
def test_paraphrases_stay_comparatively_high(paraphrase):
    # Measured: 88 (token_set_ratio 84), 90 (93), 76 (71), 97 (100).
    assert similarity(ANSWER, paraphrase) >= token_set(ANSWER, paraphrase) - 5
    assert similarity(ANSWER, paraphrase) > similarity(ANSWER, REFUSAL) + 40


def test_changes_cost_more_than_the_nearest_paraphrase():
    """An opener is a paraphrase; a new form of the same words is not: the opener keeps a higher score than
    every format change."""
    opener = similarity(ANSWER, PARAPHRASES[3])
    assert all(similarity(ANSWER, changed) < opener - 5 for changed in CHANGES.values())


def test_refusal_is_far():
    assert similarity(ANSWER, REFUSAL) <= 40


def test_form_agreement():
    a = features(ANSWER)
    assert form_agreement(a, a) == 1.0
    assert form_agreement(a, features(CHANGES["bullet list"])) == pytest.approx((1 + 0 + 0) / 3, abs=0.05)
    twice = features(ANSWER + " " + ANSWER)
    assert form_agreement(a, twice) == pytest.approx(2 / 3, abs=0.01)  # size agrees 0 at a factor of two


TEXTS = st.lists(st.text(max_size=60), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_similarity_is_a_symmetric_score(texts):
    for a in texts:
        assert similarity(a, a) == pytest.approx(100.0)
        for b in texts:
            assert 0.0 <= similarity(a, b) <= 100.0
            assert similarity(a, b) == pytest.approx(similarity(b, a))


@settings(max_examples=40, deadline=None)
@given(TEXTS, st.data())
def test_matrix_reuses_an_earlier_look(texts, data):
    full = similarity_matrix(texts)
    known = data.draw(st.integers(0, len(texts)))
    assert similarity_matrix(texts, known=[row[:known] for row in full[:known]]) == full
    assert all(
        full[i][j] == pytest.approx(similarity(texts[i], texts[j]))
        for i in range(len(texts))
        for j in range(len(texts))
        if i != j
    )
