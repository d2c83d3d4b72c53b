"""Upstream providers, one module per kind; `KINDS` maps a config `type` to its class."""

from interlingua.adapters.providers.anthropic import AnthropicProvider
from interlingua.adapters.providers.base import Provider, Target
from interlingua.adapters.providers.gemini import GeminiProvider
from interlingua.adapters.providers.local import LocalProvider
from interlingua.adapters.providers.openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {"openai": OpenAIProvider, "anthropic": AnthropicProvider,
                                    "gemini": GeminiProvider, "local": LocalProvider}

__all__ = ["KINDS", "Provider", "Target"]
