"""The `tavily` kind: Tavily's search API (`POST {url}/search`, default `https://api.tavily.com`).

Every option has a field: `max_results` (at most 20), `include_domains` and `exclude_domains`,
`topic` (Tavily's categories: general, news, finance) and `country` (a country's English name,
for the general topic). The model is the search depth: `basic` (the default) or `advanced`.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, given

TOPICS = ("general", "news", "finance")


class TavilyProvider(RetrievalProvider):
    kind = "tavily"
    serves = "search"
    default = "basic"
    key_env = "TAVILY_API_KEY"

    async def search(self, request: ir.SearchRequest, model: str) -> ir.SearchResults:
        if request.category is not None and request.category not in TOPICS:
            raise ir.invalid("category", f"Tavily's categories are {', '.join(TOPICS)}")
        body: dict[str, Any] = {"query": request.query, "max_results": min(request.limit, 20), "search_depth": model,
                                **given(include_domains=request.included, exclude_domains=request.excluded,
                                        topic=request.category, country=(request.location or "").lower())}
        payload = await self.post_json("/search", body)
        return self.collect(payload.get("results") if isinstance(payload, dict) else None, _hit, request)


def _hit(result: dict[str, Any]) -> ir.SearchHit:
    metadata = {k: result[k] for k in ("score", "published_date") if result.get(k) is not None}
    return ir.SearchHit(result["url"], str(result.get("title") or ""), str(result.get("content") or ""), metadata)
