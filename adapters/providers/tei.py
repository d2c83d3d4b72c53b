"""The `tei` kind: Hugging Face text-embeddings-inference serving a reranker (`POST {url}/rerank`).

TEI serves one model, named at its launch, so the request carries none; it takes `texts` and
answers a bare list of `{"index", "score"}`, every text included (the gateway applies the limit).
"""

from __future__ import annotations

from interlingua.adapters import ir
from interlingua.adapters.providers.retrieval import RetrievalProvider, ranked


class TEIProvider(RetrievalProvider):
    kind = "tei"
    serves = "rerank"
    default = "default"

    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        self.check_size(request)
        payload = await self.post_json("/rerank", {"query": request.query, "texts": request.texts,
                                                   "raw_scores": False, "return_text": False, "truncate": True})
        return ranked(self, payload, request, model, score="score")
