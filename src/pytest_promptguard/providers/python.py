"""A plain Python callable as a model: the application under test, or a stub.

The callable gets `(messages, params)` and returns a string or a dict with `text` and optionally
`usage` ({input_tokens, output_tokens}), `model`, `tool_calls` and `cost_usd`. Sync callables run in a thread so
they run concurrently too.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from typing import Any, Callable

import httpx

from ..config import ModelSpec
from ..errors import PromptguardError
from ..results import Request, ToolCall, Usage
from .base import ProviderError, Reply, estimated_usage


def resolve_callable(reference: str) -> Callable[..., Any]:
    """Import `module:function` (dotted attributes allowed after the colon)."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix, shown plainly
        raise PromptguardError(
            f"cannot import '{module_name}' for callable '{reference}': {type(exc).__name__}: {exc}",
            hint="check the module name, and add its folder to 'pythonpath' in promptguard.yaml",
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise PromptguardError(
                f"'{module_name}' has no attribute '{attribute}' (callable '{reference}')",
                hint="check the function name after the colon",
            )
        target = getattr(target, part)
    if not callable(target):
        raise PromptguardError(f"'{reference}' is not callable", hint="point 'callable' at a function")
    return target


class PythonProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        assert spec.callable
        self.function = resolve_callable(spec.callable)

    @property
    def endpoint(self) -> None:
        return None

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        messages, params = [dict(m) for m in request.messages], dict(request.params)
        try:
            if inspect.iscoroutinefunction(self.function):
                result = await self.function(messages, params)
            else:
                result = await asyncio.to_thread(self.function, messages, params)
        except Exception as exc:  # noqa: BLE001 - the application's failure becomes this item's error
            raise ProviderError("callable", f"{self.spec.callable} raised {type(exc).__name__}: {exc}") from None
        return self._reply(result, request)

    def _reply(self, result: Any, request: Request) -> Reply:
        if isinstance(result, str):
            return Reply(text=result, model_served=request.model_id, usage=estimated_usage(request.messages, result))
        if not isinstance(result, dict) or not isinstance(result.get("text", ""), str):
            raise ProviderError(
                "bad_response",
                f"{self.spec.callable} returned {type(result).__name__}; return a str or a dict with 'text'",
            )
        text = result.get("text", "")
        raw_usage = result.get("usage")
        if isinstance(raw_usage, dict):
            usage = Usage(
                input_tokens=raw_usage.get("input_tokens", raw_usage.get("prompt_tokens")),
                output_tokens=raw_usage.get("output_tokens", raw_usage.get("completion_tokens")),
            )
        else:
            usage = estimated_usage(request.messages, text)
        tool_calls = tuple(
            ToolCall(name=t["name"], arguments=t.get("arguments"), id=t.get("id")) for t in result.get("tool_calls", [])
        )
        return Reply(
            text=text,
            tool_calls=tool_calls,
            model_served=result.get("model", request.model_id),
            fingerprint=result.get("fingerprint"),
            finish_reason=result.get("finish_reason"),
            usage=usage,
            cost_usd=result.get("cost_usd"),
        )
