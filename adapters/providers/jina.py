"""The `jina` kind: Jina's Reranker API (`POST {url}/rerank`), and the self-hosted servers that
copied its shape: vLLM and llama.cpp serve `/rerank` (and `/v1/rerank`) alike.

The default URL is Jina's, `https://api.jina.ai/v1`; a vLLM or llama.cpp server is given by its
own (`http://127.0.0.1:8000/v1`), with no key. Documents are never asked back
(`return_documents: false`): the gateway has them.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, ranked, usage_of


class JinaProvider(RetrievalProvider):
    kind = "jina"
    serves = "rerank"
    default = "jina-reranker-v2-base-multilingual"

    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        self.check_size(request)
        body: dict[str, Any] = {"model": model, "query": request.query, "documents": request.texts,
                                "return_documents": False}
        if request.limit:
            body["top_n"] = request.limit
        payload = await self.post_json("/rerank", body)
        results = payload.get("results") if isinstance(payload, dict) else None
        return ranked(self, results, request, model, usage=usage_of(payload))
