"""The `cohere` kind: Cohere's Rerank API v2 (`POST /v2/rerank`), bearer key.

Cohere bills rerank in search units (`meta.billed_units.search_units`), not tokens, so the
ledger row of a Cohere rerank carries no token counts.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, ranked


class CohereProvider(RetrievalProvider):
    kind = "cohere"
    serves = "rerank"
    default = "rerank-v3.5"

    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        self.check_size(request)
        body: dict[str, Any] = {"model": model, "query": request.query, "documents": request.texts}
        if request.limit:
            body["top_n"] = request.limit
        payload = await self.post_json("/v2/rerank", body)
        return ranked(self, payload.get("results") if isinstance(payload, dict) else None, request, model)
