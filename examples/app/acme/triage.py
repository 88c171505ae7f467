"""Ticket triage: one label per support ticket."""

from __future__ import annotations

from . import usage

LABELS = {
    "billing": ("charge", "invoice", "refund", "payment"),
    "bug": ("error", "crash", "broken", "doesn't work"),
    "account": ("password", "login", "email address"),
}


def classify(messages: list[dict], params: dict) -> dict:
    ticket = messages[-1]["content"].lower()
    label = next((label for label, words in LABELS.items() if any(word in ticket for word in words)), "other")
    return {"text": label, "model": "gpt-4.1-nano-2025-04-14", "usage": usage(messages, label)}
