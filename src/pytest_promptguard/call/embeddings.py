"""Embedding requests, sent by the scheduler as it sends every call (limits, retries, budgets, the cache)."""

from __future__ import annotations

import dataclasses

import httpx

from ..config.loader import ModelSpec
from ..core.results import Request
from ..providers import Provider, Reply


class Embedder:
    """A provider's embedding entry point (`embed`, at `embed_endpoint`) seen as a provider, so the scheduler sends
    it as it sends every call; it has limits of its own (by identity), and shares the model's HTTP client."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.spec = provider.spec

    @property
    def endpoint(self) -> str | None:
        return getattr(self.provider, "embed_endpoint", None)

    async def complete(self, request: Request, http: httpx.AsyncClient | None) -> Reply:
        return await self.provider.embed(request, http)  # type: ignore[attr-defined]


def embedding_request(spec: ModelSpec, text: str) -> Request:
    """The request embedding `text`: its digest (the response cache's key) is a hash of the model and the text."""
    request = spec.request(({"role": "user", "content": text},))
    return dataclasses.replace(request, params={"embedding": True, "max_tokens": 1})  # not the model's chat params
