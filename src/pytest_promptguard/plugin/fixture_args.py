"""What a test hands the `promptguard` fixture, checked as a suite's YAML is: messages, repeat, and checks by
name with the arguments a suite would give them. A mistake is an error naming what to write instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import REGISTRY, BuildContext, BuiltCheck, CheckSpecError, build_check
from ..core.errors import PromptguardError
from ..core.validation import suggest


class PromptguardFixtureError(Exception):
    """The fixture was asked for something it cannot do: an unknown model, a broken promptguard.yaml or golden
    file, malformed messages, a Call that this test's fixture did not make."""


class CheckArgumentError(PromptguardFixtureError):
    """An unknown check, or an argument its schema refuses (as a suite naming it would be refused)."""


def samples_of(repeat: Any) -> int:
    __tracebackhide__ = True
    if repeat is None:
        return 1
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise PromptguardFixtureError(
            f"promptguard.call: repeat must be a whole number of samples, at least 1 (got {repeat!r})"
        )
    return repeat


def messages_of(messages: Any) -> tuple[dict[str, Any], ...]:
    """A string as one user message, or a list of {role, content} dicts as they are."""
    __tracebackhide__ = True
    if isinstance(messages, str):
        return ({"role": "user", "content": messages},)
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence) or not messages:
        raise PromptguardFixtureError(
            "promptguard.call: messages must be a string (one user message) or a non-empty list of "
            f"{{'role': ..., 'content': ...}} dicts (got {type(messages).__name__})"
        )
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str) or "content" not in message:
            raise PromptguardFixtureError(
                f"promptguard.call: messages[{index}] must be a dict with 'role' and 'content' (got {message!r:.80})"
            )
    return tuple(dict(m) for m in messages)


def build_named(name: str, argument: Any, context: BuildContext) -> BuiltCheck:
    """A registered check built as a suite builds it; a wrong name or argument is a CheckArgumentError."""
    __tracebackhide__ = True
    if name not in REGISTRY:
        raise CheckArgumentError(
            f"promptguard.check: unknown check '{name}'{suggest(name, list(REGISTRY))}\n  fix: use one of: "
            f"{', '.join(sorted(REGISTRY))}"
        )
    try:
        return build_check(name, argument, context)
    except CheckSpecError as exc:
        raise CheckArgumentError(
            f"promptguard.check: {exc.message}" + (f"\n  fix: {exc.hint}" if exc.hint else "")
        ) from None
    except PromptguardError as exc:
        raise CheckArgumentError(f"promptguard.check: check '{name}': {exc}") from None
