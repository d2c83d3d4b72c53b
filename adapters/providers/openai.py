"""The `openai` kind: the OpenAI API and every server that speaks Chat Completions or Responses.

`api = "chat"` (the default) posts to `/chat/completions`; `api = "responses"` to `/responses`. A
client that speaks the same API gets the upstream's bytes with only the model name changed in the
request. Chat streams always ask for usage, so the ledger is complete even when the client did not
(the passthrough strips that chunk again). The gateway keeps Responses conversation state itself,
so a Responses upstream is asked statelessly: `store: false`, no `previous_response_id` (the
history is in `input`), and reasoning's `encrypted_content` included so it can be sent back.
"""

from __future__ import annotations

from typing import Any

import orjson

from adapters import ir
from adapters.dialects import openai_embeddings as embeddings
from adapters.dialects.openai_chat import CODEC as CHAT
from adapters.dialects.openai_responses import CODEC as RESPONSES
from adapters.providers.base import Provider

ENCRYPTED_REASONING = "reasoning.encrypted_content"


class OpenAIProvider(Provider):
    kind = "openai"
    codec = CHAT
    chat_path = "/chat/completions"

    def __init__(self, *args: Any, api: str = "chat", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if api == "responses":
            self.codec = RESPONSES
            self.chat_path = "/responses"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def native_body(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        body = super().native_body(request, model)
        if self.codec is RESPONSES:
            body.pop("previous_response_id", None)
            body["store"] = False
            include = body.get("include") or []
            if ENCRYPTED_REASONING not in include:
                body["include"] = [*include, ENCRYPTED_REASONING]
        elif request.stream and not request.stream_usage:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return body

    async def embed(self, request: ir.EmbeddingRequest, model: str) -> ir.EmbeddingResponse:
        response = await self.open("/embeddings", orjson.dumps(embeddings.encode_embedding_request(request, model)))
        return embeddings.decode_embedding_response(self.parse(await self.read(response)))

    async def count_tokens(self, request: ir.ChatRequest, model: str) -> ir.TokenCount:
        if self.codec is not RESPONSES:
            return await super().count_tokens(request, model)
        native = request.dialect == RESPONSES.name and request.native is not None
        full = self.native_body(request, model) if native else RESPONSES.encode_request(request, model)
        body = {k: v for k, v in full.items() if k in ("model", "input", "instructions", "tools", "tool_choice",
                                                       "parallel_tool_calls", "reasoning", "text", "truncation")}
        response = await self.open("/responses/input_tokens", orjson.dumps(body))
        return ir.TokenCount(int(self.parse(await self.read(response)).get("input_tokens", 0)))
