"""The `brave` kind: Brave's Search API (`GET {url}/res/v1/web/search`, default
`https://api.search.brave.com`, key in `X-Subscription-Token`).

`count` takes at most 20; `country` is a two-letter code. Brave has no domain parameter: the
domains go into the query as `site:` operators, which Brave honours, and the gateway filters the
results too. The category `news` asks the news endpoint (`/res/v1/news/search`); Brave has no
other category for web results. Snippets mark the query's words in HTML; they come out as text.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, plain, site_operators

CATEGORIES = ("web", "news")


class BraveProvider(RetrievalProvider):
    kind = "brave"
    serves = "search"
    default = "web"
    key_env = "BRAVE_API_KEY"
    auth_scheme = "x-subscription-token"

    async def search(self, request: ir.SearchRequest, model: str) -> ir.SearchResults:
        category = request.category or "web"
        if category not in CATEGORIES:
            raise ir.invalid("category", f"Brave's categories are {', '.join(CATEGORIES)}")
        query = {"q": site_operators(request), "count": str(min(request.limit, 20))}
        if request.location:
            query["country"] = request.location.upper()
        payload = await self.get_json(f"/res/v1/{category}/search", query)
        if category == "web":
            payload = payload.get("web") or {"results": []} if isinstance(payload, dict) else None  # none found
        return self.collect(payload.get("results") if isinstance(payload, dict) else None, _hit, request)


def _hit(result: dict[str, Any]) -> ir.SearchHit:
    metadata = {k: result[k] for k in ("age", "page_age") if result.get(k)}
    snippets = [result.get("description"), *(result.get("extra_snippets") or [])]
    content = " ".join(plain(s) for s in snippets if s)
    return ir.SearchHit(result["url"], plain(result.get("title")), content, metadata)
