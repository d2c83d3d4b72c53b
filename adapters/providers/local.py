"""The `local` kind: models embedded in the gateway, needing no network and no key.

Today one model, `all-minilm-l6-v2` sentence embeddings (`adapters/local/minilm.py`), run on a
worker thread so the event loop keeps serving while it computes. It is configured by default, so
`local/all-minilm-l6-v2` works on a fresh install with no configuration.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from interlingua.adapters import ir
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.local.minilm import DIMENSIONS, MODEL_ID, MiniLM
from interlingua.adapters.providers.base import Provider
from interlingua.adapters.replies import Reply


class LocalProvider(Provider):
    kind = "local"
    codec = CHAT
    chat_path = ""

    def __init__(self, name: str, url: str = "", **kwargs: Any) -> None:
        kwargs["models"] = kwargs.get("models") or (MODEL_ID,)
        super().__init__(name, url or "http://local.invalid", **kwargs)
        self.minilm = MiniLM()

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {}

    def capabilities(self, model: str) -> tuple[str, ...]:
        return ("embeddings",) if model == MODEL_ID else ()

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
