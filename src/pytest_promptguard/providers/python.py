"""A plain Python callable as a model: the application under test, or a stub.

The callable gets `(messages, params)` and returns a string or a dict with `text` and optionally
`usage` ({input_tokens, output_tokens}), `model`, `tool_calls` ([{name, arguments, id?}]) and `cost_usd`. A suite's
`tools`, `tool_choice` and `response_format` arrive in `params` (see `tool_params`). Sync callables run in a thread so
they run concurrently too.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import httpx

from ..config.spec import ModelSpec
from ..core.errors import PromptguardError
from ..core.results import Request, ToolCall, Usage
from .base import ProviderError, Reply, estimated_usage, parse_json_text


def tool_params(request: Request) -> dict[str, Any]:
    """What a callable gets of the suite's tools, in their normal forms (see toolspec.py), copied so that the
    application cannot change the request: `params["tools"]`, `params["tool_choice"]`, `params["response_format"]`,
    each only when the suite sets it."""
    params: dict[str, Any] = {}
    if request.tools:
        params["tools"] = copy.deepcopy(list(request.tools))
    if request.tool_choice is not None:
        params["tool_choice"] = copy.deepcopy(request.tool_choice)
    if request.response_format is not None:
        params["response_format"] = copy.deepcopy(request.response_format)
    return params


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
        messages, params = [dict(m) for m in request.messages], {**request.params, **tool_params(request)}
        try:
            if inspect.iscoroutinefunction(self.function):
                result = await self.function(messages, params)
            else:
                result = await asyncio.to_thread(self.function, messages, params)
        except Exception as exc:  # noqa: BLE001 - the application's failure becomes this item's error
            raise ProviderError("callable", f"{self.spec.callable} raised {type(exc).__name__}: {exc}") from None
        return self._reply(result, request)

    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        """`[{"name", "arguments", "id"?}, ...]`; arguments given as JSON text are parsed, as a provider's are."""
        if not isinstance(raw, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in raw):
            raise ProviderError(
                "bad_response",
                f"{self.spec.callable} returned tool_calls that are not a list of {{'name', 'arguments'}} dicts",
            )
        return tuple(
            ToolCall(
                name=t["name"],
                arguments=parse_json_text(t["arguments"])
                if isinstance(t.get("arguments"), str)
                else t.get("arguments"),
                id=t.get("id"),
            )
            for t in raw
        )

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
        tool_calls = self._tool_calls(result.get("tool_calls") or [])
        return Reply(
            text=text,
            tool_calls=tool_calls,
            model_served=result.get("model", request.model_id),
            fingerprint=result.get("fingerprint"),
            finish_reason=result.get("finish_reason"),
            usage=usage,
            cost_usd=result.get("cost_usd"),
        )
