"""The `local` kind: models embedded in the gateway, needing no network and no key.

Two models, each run on a worker thread so the event loop keeps serving while it computes:
`all-minilm-l6-v2` sentence embeddings (`adapters/local/minilm.py`), and `minilm-bm25`, a rerank
that fuses that model's similarity with BM25 (`adapters/local/fusion.py`). The provider is
configured by default, so `local/all-minilm-l6-v2` embeds and `/v1/rerank` with no model reranks
on a fresh install with no configuration.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.local import fusion
from interlingua.adapters.local.minilm import DIMENSIONS, MODEL_ID, MiniLM
from interlingua.adapters.providers.base import Provider
from interlingua.adapters.replies import Reply


class LocalProvider(Provider):
    kind = "local"
    codec = CHAT
    chat_path = ""

    def __init__(self, name: str, url: str = "", **kwargs: Any) -> None:
        kwargs["models"] = kwargs.get("models") or (MODEL_ID, fusion.MODEL_ID)
        super().__init__(name, url or "http://local.invalid", **kwargs)
        self.minilm = MiniLM()
        self.fusion = fusion.Fusion(self.minilm)

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {}

    def capabilities(self, model: str) -> tuple[str, ...]:
        return _CAPABILITIES.get(model, ())

    def model_for(self, capability: str) -> str | None:
        return fusion.MODEL_ID if capability == "rerank" else None

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        raise ir.GatewayError("invalid_request", f"model {model!r} does not chat", param="model")

    async def embed(self, request: ir.EmbeddingRequest, model: str) -> ir.EmbeddingResponse:
        if model != MODEL_ID:
            raise ir.GatewayError("not_found", f"model {self.name}/{model} does not exist", param="model",
                                  code="model_not_found")
        if request.dimensions not in (None, DIMENSIONS):
            raise ir.invalid("dimensions", f"{MODEL_ID} makes vectors of {DIMENSIONS} dimensions only")
        inputs = request.inputs  # all texts or all token lists: the decoder admits no mixture
        if inputs and isinstance(inputs[0], str):
            vectors, tokens = await asyncio.to_thread(self._embed_texts, inputs)
        else:
            ids = cast(list[list[int]], inputs)
            try:
                vectors = await asyncio.to_thread(self.minilm.embed_ids, ids)
            except ValueError as exc:
                raise ir.invalid("input", str(exc)) from None
            tokens = sum(len(one) for one in ids)
        return ir.EmbeddingResponse(model=MODEL_ID, vectors=vectors, usage=ir.Usage(input_tokens=tokens))

    def _embed_texts(self, texts: list[str]) -> tuple[list[list[float]], int]:
        return self.minilm.embed(texts), self.minilm.count_tokens(texts)

    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        if model != fusion.MODEL_ID:
            raise ir.GatewayError("not_found", f"model {self.name}/{model} does not rerank", param="model",
                                  code="model_not_found")
        self.check_size(request)
        return await asyncio.to_thread(self._rerank, request)

    def _rerank(self, request: ir.RerankRequest) -> ir.RerankResponse:
        ranked = self.fusion.rank(request.query, request.texts)[:request.limit or None]
        return ir.RerankResponse(fusion.MODEL_ID, [ir.Ranked(i, score) for i, score in ranked],
                                 ir.Usage(input_tokens=self.fusion.tokens(request.query, request.texts)))


_CAPABILITIES = {MODEL_ID: ("embeddings",), fusion.MODEL_ID: ("rerank",)}
