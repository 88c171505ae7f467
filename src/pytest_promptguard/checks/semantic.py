"""Meaning-level similarity: the cosine similarity of embeddings, from the config's `embedding_model`.

`semantic: {expected, min}` compares the output with an expected text; `golden: {method: semantic}` compares it
with the golden's output (see golden.py). Embeddings are asked through modelchecks.py: the run's scheduler,
the response cache, and memory, so each text is embedded once.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import PromptguardError
from ..core.similarity import SEMANTIC
from .registry import BuildContext, Check, CheckInput, CheckSpecError, register, result
from .text import unified_diff


def shown(score: float) -> float:
    """A cosine cut (not rounded) to three decimals, so 0.8496 never reads as passing a min of 0.85."""
    return math.floor(score * 1000) / 1000


SCORER = SEMANTIC


def embedding_spec(context: BuildContext, check: str) -> Any:
    """The embedding model a check of `check` uses; CheckSpecError when the config names none."""
    models = context.models
    if models is None:
        raise CheckSpecError(
            f"check '{check}' was built without the run's models to embed with (a promptguard bug: please report it)"
        )
    try:
        return models.embedder()
    except ValueError:
        raise CheckSpecError(
            f"check '{check}' needs an embedding model, and promptguard.yaml names none",
            hint="add a model that embeds (provider openai, ollama, gemini or sentence-transformers) under 'models', "
            "and name it: embedding_model: NAME",
        ) from None


def asker(context: BuildContext, given: CheckInput) -> tuple[str, str, str]:
    return (str(context.models.path), given.case.id, given.call.model)


@register(
    "semantic",
    {
        "type": "object",
        "description": "semantic: {expected: text, min: cosine similarity -1..1 (default: drift.min_semantic, "
        "else 0.85)}; "
        "needs embedding_model in promptguard.yaml",
        "required": ["expected"],
        "additionalProperties": False,
        "properties": {
            "expected": {"type": "string"},
            "min": {"type": "number", "minimum": -1, "maximum": 1},
        },
    },
)
def build_semantic(argument: dict[str, Any], context: BuildContext) -> Check:
    spec = embedding_spec(context, "semantic")
    expected = argument["expected"]
    minimum = float(argument.get("min", context.semantic_min))

    def semantic(given: CheckInput) -> Any:
        score = context.models.similarity(
            spec, expected, given.call.text, asker(context, given)
        )  # CheckCallError: an ERROR
        passed = score >= minimum
        reason = f"cosine similarity {shown(score):.3f} {'>=' if passed else '<'} min {minimum:g} ({spec.name})"
        return result(
            "semantic",
            passed,
            reason,
            score=round(score, 4),
            diff=None if passed else unified_diff(expected, given.call.text),
        )

    return semantic


def semantic_golden_verdict(
    context: BuildContext, spec: Any, given: CheckInput, expected: str, minimum: float, bar: str
) -> Any:
    """The output against the golden's by meaning: passes when their cosine similarity reaches `minimum`."""
    score = context.models.similarity(
        spec, expected, given.call.text, asker(context, given)
    )  # CheckCallError: an ERROR
    if score >= minimum:
        return result(
            "golden",
            True,
            f"semantic {shown(score):.3f} >= {bar} {minimum:g} against the golden",
            score=round(score, 4),
        )
    return result(
        "golden",
        False,
        f"output drifted from the golden: semantic {shown(score):.3f} < {bar} {minimum:g}",
        score=round(score, 4),
        diff=unified_diff(expected, given.call.text, "golden", "now"),
    )


__all__ = ["SCORER", "PromptguardError", "build_semantic", "embedding_spec", "semantic_golden_verdict"]
