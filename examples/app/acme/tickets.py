"""Ticket extraction: a customer's email in, the ticket as JSON out.

Honours `params["response_format"]` as a model with structured outputs does: asked for JSON (a schema, or JSON
mode), it answers with the bare JSON document; otherwise with the JSON in a fenced block, as chat models tend to.
"""

from __future__ import annotations

import json
import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ORDER_ID = re.compile(r"\b([A-Z]-\d+)\b")
ITEM = re.compile(r"\b(\d+)\s*x\s+([a-z]+)", re.IGNORECASE)
URGENT = ("urgent", "urgently", "immediately", "asap", "today")
UNHAPPY = ("broken", "angry", "disappointed", "late", "never arrived", "wrong")


def extract(messages: list[dict], params: dict) -> dict:
    email = messages[-1]["content"].split(":", 1)[-1]
    lowered = email.lower()
    signature = email.strip().splitlines()[-1].strip(" -")
    address = EMAIL.search(email)
    order = ORDER_ID.search(email)
    ticket = {
        "customer": {"name": signature, "email": address.group(0) if address else None},
        "order_id": order.group(1) if order else None,
        "items": [{"sku": name.upper()[:8], "quantity": int(count)} for count, name in ITEM.findall(email)],
        "priority": "high" if _mentions(lowered, URGENT) else "normal",
        "sentiment": "negative" if _mentions(lowered, UNHAPPY) else "neutral",
    }
    text = json.dumps(ticket, indent=2)
    if not params.get("response_format"):
        text = f"```json\n{text}\n```"
    usage = {"input_tokens": len(lowered.split()), "output_tokens": len(text.split())}
    return {"text": text, "model": "gemini-2.5-flash-lite", "usage": usage}


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    """Whether `text` has one of `words` as a word ("plates" does not mention "late")."""
    return any(re.search(rf"\b{re.escape(word)}\b", text) for word in words)
