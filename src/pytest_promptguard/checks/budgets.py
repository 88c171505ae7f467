"""Size checks: how long an answer may be, in characters and in output tokens."""

from __future__ import annotations

from typing import Any

from .registry import BuildContext, Check, CheckInput, register, result


@register(
    "length",
    {
        "type": "object",
        "description": "length: {min_chars, max_chars, max_output_tokens}",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "min_chars": {"type": "integer", "minimum": 0},
            "max_chars": {"type": "integer", "minimum": 0},
            "max_output_tokens": {"type": "integer", "minimum": 0},
        },
    },
)
def build_length(argument: dict[str, int], context: BuildContext) -> Check:
    def length(given: CheckInput) -> Any:
        chars, tokens = len(given.call.text), given.call.tokens_out
        problems = []
        if "min_chars" in argument and chars < argument["min_chars"]:
            problems.append(f"{chars} chars < min {argument['min_chars']}")
        if "max_chars" in argument and chars > argument["max_chars"]:
            problems.append(f"{chars} chars > max {argument['max_chars']}")
        if "max_output_tokens" in argument and tokens is not None and tokens > argument["max_output_tokens"]:
            problems.append(f"{tokens} output tokens > max {argument['max_output_tokens']}")
        if problems:
            return result("length", False, "; ".join(problems))
        return result("length", True, f"{chars} chars, {tokens if tokens is not None else '?'} output tokens")

    return length
