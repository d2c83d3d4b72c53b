"""Upstream providers, one module per kind; `KINDS` maps a config `type` to its class."""

from adapters.providers.base import Provider, Reply, Target
from adapters.providers.openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {"openai": OpenAIProvider}

__all__ = ["KINDS", "Provider", "Reply", "Target"]
