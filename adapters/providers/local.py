"""The `local` kind: models embedded in the gateway, needing no network and no key.

Three models, each run on a worker thread so the event loop keeps serving while it computes:
`all-minilm-l6-v2` sentence embeddings (`adapters/local/minilm.py`); `minilm-bm25`, a rerank that
fuses that model's similarity with BM25 (`adapters/local/fusion.py`); and `documents`, the embedded
document reader and splitter (`adapters/documents/`) that /v1/extract and /v1/segment use by
default. The provider is configured by default, so `local/all-minilm-l6-v2` embeds, `/v1/rerank`
with no model reranks and `local/documents` reads on a fresh install with no configuration.
`documents` is not listed among the models, as it is no model a chat or embeddings client could use.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.documents import reader
from interlingua.adapters.documents.segment import segment_in_thread
from interlingua.adapters.local import fusion
from interlingua.adapters.local.minilm import DIMENSIONS, MODEL_ID, shared
from interlingua.adapters.providers.base import Provider
from interlingua.adapters.providers.chat_utilities import text_of
from interlingua.adapters.replies import Reply, Result
from interlingua.adapters.stoppable import in_thread

DOCUMENTS = "documents"
MAX_INPUTS = 2048  # texts or token lists an embeddings request may hold, as OpenAI's API takes


class LocalProvider(Provider):
    kind = "local"
    codec = CHAT
    chat_path = ""

    def __init__(self, name: str, url: str = "", **kwargs: Any) -> None:
        kwargs["models"] = kwargs.get("models") or (MODEL_ID, fusion.MODEL_ID)
        super().__init__(name, url or "http://local.invalid", **kwargs)
        self.minilm = shared()
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
        if len(inputs) > MAX_INPUTS:
            raise ir.invalid("input", f"holds {len(inputs)} items; {MODEL_ID} embeds at most {MAX_INPUTS} a request, "
                             "as OpenAI's API does")
        if inputs and isinstance(inputs[0], str):
            vectors, tokens = await in_thread(self.minilm.embed_counting, inputs)
        else:
            ids = cast(list[list[int]], inputs)
            try:
                vectors = await in_thread(self.minilm.embed_ids, ids)
            except ValueError as exc:
                raise ir.invalid("input", str(exc)) from None
            tokens = sum(len(one) for one in ids)
        return ir.EmbeddingResponse(model=MODEL_ID, vectors=vectors, usage=ir.Usage(input_tokens=tokens))

    async def extract(self, request: ir.DocumentRequest, model: str) -> Reply:
        self._documents(model)
        if request.schema is not None:
            raise ir.GatewayError("invalid_request", "extracting into a `schema` needs a chat model: give one as "
                                  "`model`, or name a default as `schema` under [utilities] in the config",
                                  param="model")
        upload = request.file
        if upload is None:
            raise ir.invalid("file", "is required")
        document = await reader.read_async(upload.file, upload.content_type, upload.filename, request.layout)
        return Result(document)

    async def segment(self, request: ir.DocumentRequest, model: str) -> Reply:
        self._documents(model)
        text, media_type, usage = await text_of(request)
        segments = await segment_in_thread(text, media_type, request.segment_length, request.segment_overlap)
        return Result(ir.Segments(segments, usage))

    def _documents(self, model: str) -> None:
        if model != DOCUMENTS:
            raise ir.GatewayError("not_found", f"model {self.name}/{model} does not exist (documents are read by "
                                  f"{self.name}/{DOCUMENTS})", param="model", code="model_not_found")
    async def rerank(self, request: ir.RerankRequest, model: str) -> ir.RerankResponse:
        if model != fusion.MODEL_ID:
            raise ir.GatewayError("not_found", f"model {self.name}/{model} does not rerank", param="model",
                                  code="model_not_found")
        self.check_size(request)
        return await in_thread(self._rerank, request)

    def _rerank(self, request: ir.RerankRequest, stop: threading.Event) -> ir.RerankResponse:
        ranked = self.fusion.rank(request.query, request.texts, stop)[:request.limit or None]
        return ir.RerankResponse(fusion.MODEL_ID, [ir.Ranked(i, score) for i, score in ranked],
                                 ir.Usage(input_tokens=self.fusion.tokens(request.query, request.texts)))


_CAPABILITIES = {MODEL_ID: ("embeddings",), fusion.MODEL_ID: ("rerank",), DOCUMENTS: ("extract", "segment")}
