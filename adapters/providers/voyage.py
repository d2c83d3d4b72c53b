"""The `voyage` kind: Voyage AI's reranker (`POST {url}/rerank`, default `https://api.voyageai.com/v1`).

Voyage calls the limit `top_k` and answers in `data`, each with `index` and `relevance_score`.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, ranked, usage_of


class VoyageProvider(RetrievalProvider):
    kind = "voyage"
    serves = "rerank"
    default = "rerank-2.5"

    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        self.check_size(request)
        body: dict[str, Any] = {"query": request.query, "documents": request.texts, "model": model,
                                "return_documents": False, "truncation": True}
        if request.limit:
            body["top_k"] = request.limit
        payload = await self.post_json("/rerank", body)
        data = payload.get("data") if isinstance(payload, dict) else None
        return ranked(self, data, request, model, usage=usage_of(payload))
