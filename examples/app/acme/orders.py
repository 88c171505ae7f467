"""Order extraction: free text in, the order as JSON out."""

from __future__ import annotations

import json
import re

from . import usage

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "a": 1, "an": 1}


def extract(messages: list[dict], params: dict) -> dict:
    text = messages[-1]["content"].split(":", 1)[-1]
    items = []
    for quantity, name in re.findall(
        r"\b(\d+|one|two|three|four|five|an?)\s+([a-z]+?)s?\b(?=,|\.|$| and)", text.lower()
    ):
        count = int(quantity) if quantity.isdigit() else NUMBERS[quantity]
        items.append({"sku": name.upper()[:8], "name": name, "quantity": count})
    order = {"items": items, "total_items": sum(i["quantity"] for i in items)}
    text = "```json\n" + json.dumps(order, indent=2) + "\n```"
    return {"text": text, "model": "gpt-4.1-nano-2025-04-14", "usage": usage(messages, text)}
