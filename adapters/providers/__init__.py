"""Upstream providers, one module per kind; `KINDS` maps a config `type` to its class."""

from interlingua.adapters.providers.anthropic import AnthropicProvider
from interlingua.adapters.providers.azure_document import AzureDocumentProvider
from interlingua.adapters.providers.azure_openai import AzureOpenAIProvider
from interlingua.adapters.providers.base import Provider, Target
from interlingua.adapters.providers.brave import BraveProvider
from interlingua.adapters.providers.cohere import CohereProvider
from interlingua.adapters.providers.deepl import DeepLProvider
from interlingua.adapters.providers.docling import DoclingProvider
from interlingua.adapters.providers.exa import ExaProvider
from interlingua.adapters.providers.gemini import GeminiProvider
from interlingua.adapters.providers.jina import JinaProvider
from interlingua.adapters.providers.local import LocalProvider
from interlingua.adapters.providers.openai import OpenAIProvider
from interlingua.adapters.providers.perplexity import PerplexityProvider
from interlingua.adapters.providers.research import ResearchProvider
from interlingua.adapters.providers.searxng import SearXNGProvider
from interlingua.adapters.providers.tavily import TavilyProvider
from interlingua.adapters.providers.tei import TEIProvider
from interlingua.adapters.providers.tika import TikaProvider
from interlingua.adapters.providers.voyage import VoyageProvider

KINDS: dict[str, type[Provider]] = {"openai": OpenAIProvider, "azure-openai": AzureOpenAIProvider,
                                    "anthropic": AnthropicProvider,
                                    "gemini": GeminiProvider, "local": LocalProvider, "tika": TikaProvider,
                                    "docling": DoclingProvider, "azure-document-intelligence": AzureDocumentProvider,
                                    "deepl": DeepLProvider,
                                    "searxng": SearXNGProvider, "tavily": TavilyProvider, "exa": ExaProvider,
                                    "brave": BraveProvider, "cohere": CohereProvider, "jina": JinaProvider,
                                    "voyage": VoyageProvider, "tei": TEIProvider, "research": ResearchProvider,
                                    "perplexity": PerplexityProvider}

__all__ = ["KINDS", "Provider", "Target"]
