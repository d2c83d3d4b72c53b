"""The `searxng` kind: a self-hosted SearXNG instance's JSON search API (`GET {url}/search`).

SearXNG needs no key (one given is sent as a bearer token, for an instance behind a proxy that
checks it) and its instance must have the `json` format enabled in `settings.yml`. It has no
result limit, domain filter or location parameter: the domains go into the query as `site:`
operators, which the engines that read them honour, and the gateway filters and cuts the results
itself. `category` is SearXNG's `categories`. A model other than `default` names the engines to
ask (`searxng/duckduckgo,wikipedia`).
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, plain, site_operators


class SearXNGProvider(RetrievalProvider):
    kind = "searxng"
    serves = "search"
    default = "default"

    async def search(self, request: ir.SearchRequest, model: str) -> ir.SearchResults:
        query = {"q": site_operators(request), "format": "json"}
        if request.category:
            query["categories"] = request.category
        if model != self.default:
            query["engines"] = model
        payload = await self.get_json("/search", query)
        return self.collect(payload.get("results") if isinstance(payload, dict) else None, _hit, request)


def _hit(result: dict[str, Any]) -> ir.SearchHit:
    metadata = {k: result[k] for k in ("engine", "engines", "score", "category", "publishedDate") if result.get(k)}
    return ir.SearchHit(result["url"], plain(result.get("title")), plain(result.get("content")), metadata)
