"""Model providers: one module per wire format, all mapping answers to the same Reply."""

from __future__ import annotations

from ..config import ModelSpec
from .anthropic import AnthropicProvider
from .base import Provider, ProviderError, Reply
from .gemini import GeminiProvider
from .ollama import OllamaProvider
from .openai import OpenAIProvider
from .python import PythonProvider

PROVIDERS: dict[str, type] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "ollama": OllamaProvider,
    "python": PythonProvider,
}


def make_provider(spec: ModelSpec) -> Provider:
    """Build the provider for a model spec (imports a `python` callable now, so errors show at collection)."""
    return PROVIDERS[spec.provider](spec)


__all__ = ["PROVIDERS", "Provider", "ProviderError", "Reply", "make_provider"]
