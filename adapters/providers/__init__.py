"""Upstream providers, one module per kind; `KINDS` maps a config `type` to its class."""

from adapters.providers.anthropic import AnthropicProvider
from adapters.providers.base import Provider, Reply, Target
from adapters.providers.gemini import GeminiProvider
from adapters.providers.local import LocalProvider
from adapters.providers.openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {"openai": OpenAIProvider, "anthropic": AnthropicProvider,
                                    "gemini": GeminiProvider, "local": LocalProvider}

__all__ = ["KINDS", "Provider", "Reply", "Target"]
