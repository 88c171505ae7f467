"""Per-sample features: what a text scorer misses about an answer (its size, shape and refusals).

A model update that keeps the words but changes the form (a bullet list, a JSON wrapper, padding, a dropped
sentence) or starts refusing is drift a user notices, yet word-set similarity scores it 100. So every sample,
in baselines and today, is summarised by a few cheap figures that are stored per sample in golden files and
compared as distributions. Everything here is a pure function of the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# A token is a run of word characters or one punctuation mark: "Don't panic!" is 5 tokens (Don ' t panic !).
# For English prose this lands within about 20% of BPE tokenizers' counts, which is all a length signal needs,
# and it needs no model's vocabulary.
_TOKEN = re.compile(r"\w+|[^\w\s]")
_ITEM = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+\S")  # "- x", "* x", "• x", "1. x", "2) x"
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_FENCE = re.compile(r"^\s*```", re.MULTILINE)
_JSON_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL | re.IGNORECASE)

# Openings of English refusals, matched case-insensitively with either apostrophe. Kept short and literal so a
# reviewer can see why a sample counts as a refusal; a refusal in other words still moves the text similarity.
REFUSAL_MARKERS = (
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i'm sorry, but",
    "i am sorry, but",
    "i'm not able to",
    "i am not able to",
    "i'm unable to",
    "i am unable to",
    "i won't be able to",
    "i can't provide",
    "i cannot provide",
    "as an ai",
    "i must decline",
)


@dataclass(frozen=True)
class Features:
    """The figures of one sample. `items`: lines that are bullets or numbered; `markdown`: headers, bold or
    code fences; `json`: the whole output parses as JSON or is one fenced JSON block."""

    chars: int
    tokens: int
    lines: int
    items: int = 0
    markdown: bool = False
    json: bool = False
    refusal: bool = False

    @property
    def listed(self) -> bool:
        """A list answer: two bullet or numbered lines or more."""
        return self.items >= 2

    def to_dict(self) -> dict[str, Any]:
        """Short keys, integers, false flags left out: `{chars: 212, tokens: 48, lines: 3, items: 2}`."""
        data: dict[str, Any] = {"chars": self.chars, "tokens": self.tokens, "lines": self.lines}
        if self.items:
            data["items"] = self.items
        data.update({k: True for k in ("markdown", "json", "refusal") if getattr(self, k)})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Features:
        return cls(
            chars=int(data["chars"]),
            tokens=int(data["tokens"]),
            lines=int(data["lines"]),
            items=int(data.get("items", 0)),
            markdown=bool(data.get("markdown", False)),
            json=bool(data.get("json", False)),
            refusal=bool(data.get("refusal", False)),
        )


def features(text: str) -> Features:
    """The features of one output text."""
    stripped = text.strip()
    lines = [line for line in stripped.splitlines() if line.strip()]
    return Features(
        chars=len(stripped),
        tokens=len(_TOKEN.findall(stripped)),
        lines=len(lines),
        items=sum(1 for line in lines if _ITEM.match(line)),
        markdown=bool(_HEADER.search(stripped) or _BOLD.search(stripped) or _FENCE.search(stripped)),
        json=is_json(stripped),
        refusal=is_refusal(stripped),
    )


def is_json(text: str) -> bool:
    """The whole text is a JSON object or array, bare or in one ```json fence (a bare string or number is
    prose that happens to parse)."""
    fenced = _JSON_FENCE.match(text)
    body = (fenced.group(1) if fenced else text).strip()
    if not body or body[0] not in "[{":
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def is_refusal(text: str) -> bool:
    """One of REFUSAL_MARKERS appears in the text (curly apostrophes count as straight ones)."""
    folded = text.lower().replace("\u2019", "'")
    return any(marker in folded for marker in REFUSAL_MARKERS)
