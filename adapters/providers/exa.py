"""The `exa` kind: Exa's search API (`POST {url}/search`, default `https://api.exa.ai`, key in `x-api-key`).

Every option has a field: `numResults`, `includeDomains` and `excludeDomains`, `category`
(company, research paper, news, pdf, github, tweet, personal site, financial report...) and
`userLocation` (a two-letter country code). The model is Exa's search `type` (`auto` by default,
`fast`, `neural`, `keyword`...). Each result's text comes with it, cut to 1,000 characters.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, given

TEXT_CHARS = 1000


class ExaProvider(RetrievalProvider):
    kind = "exa"
    serves = "search"
    default = "auto"
    key_env = "EXA_API_KEY"
    auth_scheme = "x-api-key"

    async def search(self, request: ir.SearchRequest, model: str) -> ir.SearchResults:
        body: dict[str, Any] = {"query": request.query, "numResults": request.limit, "type": model,
                                "contents": {"text": {"maxCharacters": TEXT_CHARS}},
                                **given(includeDomains=request.included, excludeDomains=request.excluded,
                                        category=request.category, userLocation=request.location)}
        payload = await self.post_json("/search", body)
        return self.collect(payload.get("results") if isinstance(payload, dict) else None, _hit, request)


def _hit(result: dict[str, Any]) -> ir.SearchHit:
    metadata = {k: result[k] for k in ("score", "publishedDate", "author", "id") if result.get(k) is not None}
    return ir.SearchHit(result["url"], str(result.get("title") or ""), str(result.get("text") or ""), metadata)
