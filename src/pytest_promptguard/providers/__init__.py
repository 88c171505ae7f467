"""Model providers: one module per wire format, all mapping answers to the same Reply."""

from __future__ import annotations

from collections.abc import Callable

from ..config.spec import ModelSpec
from ..core.results import Request
from . import anthropic, ollama
from .anthropic import AnthropicProvider
from .base import Provider, ProviderError, Reply
from .gemini import GeminiProvider
from .local_embeddings import SentenceTransformersProvider
from .ollama import OllamaProvider
from .openai import OpenAIProvider
from .python import PythonProvider

PROVIDERS: dict[str, type] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "ollama": OllamaProvider,
    "python": PythonProvider,
    "sentence-transformers": SentenceTransformersProvider,  # embeddings only, in-process (the `semantic` extra)
}


# Per provider, what it cannot send of a request: (what, fix), found at collection rather than as a failed call.
UNSUPPORTED: dict[str, Callable[[Request], tuple[str, str] | None]] = {
    "anthropic": anthropic.unsupported,
    "ollama": ollama.unsupported,
}


def unsupported(request: Request) -> tuple[str, str] | None:
    """Why `request`'s provider cannot send it as the suite asks (message, fix), or None."""
    check = UNSUPPORTED.get(request.provider)
    return check(request) if check is not None else None


def make_provider(spec: ModelSpec) -> Provider:
    """Build the provider for a model spec (imports a `python` callable now, so errors show at collection)."""
    return PROVIDERS[spec.provider](spec)


__all__ = ["PROVIDERS", "Provider", "ProviderError", "Reply", "make_provider", "unsupported"]
