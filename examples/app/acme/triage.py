"""Ticket triage: one label per support ticket."""

from __future__ import annotations

LABELS = {
    "billing": ("charge", "invoice", "refund", "payment"),
    "bug": ("error", "crash", "broken", "doesn't work"),
    "account": ("password", "login", "email address"),
}


def classify(messages: list[dict], params: dict) -> str:
    ticket = messages[-1]["content"].lower()
    for label, words in LABELS.items():
        if any(word in ticket for word in words):
            return label
    return "other"
