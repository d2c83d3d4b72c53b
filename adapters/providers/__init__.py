"""Upstream providers, one module per kind; `KINDS` maps a config `type` to its class."""

from interlingua.adapters.providers.anthropic import AnthropicProvider
from interlingua.adapters.providers.azure_document import AzureDocumentProvider
from interlingua.adapters.providers.base import Provider, Target
from interlingua.adapters.providers.deepl import DeepLProvider
from interlingua.adapters.providers.docling import DoclingProvider
from interlingua.adapters.providers.gemini import GeminiProvider
from interlingua.adapters.providers.local import LocalProvider
from interlingua.adapters.providers.openai import OpenAIProvider
from interlingua.adapters.providers.tika import TikaProvider

KINDS: dict[str, type[Provider]] = {"openai": OpenAIProvider, "anthropic": AnthropicProvider,
                                    "gemini": GeminiProvider, "local": LocalProvider, "tika": TikaProvider,
                                    "docling": DoclingProvider, "azure-document-intelligence": AzureDocumentProvider,
                                    "deepl": DeepLProvider}

__all__ = ["KINDS", "Provider", "Target"]
