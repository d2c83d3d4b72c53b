"""The `gemini` kind: the Gemini Developer API.

`url` is the API root (`https://generativelanguage.googleapis.com`); the version and the model are
in each path. Streams are always requested as SSE; a Gemini client that asked for the streamed
JSON array gets the same chunks re-framed. Token counts come from `:countTokens` and are exact.
Image models (`image` in the name) also answer the images requests, through `:generateContent`
(see `gemini_images.py`), in IR, since no client of those requests speaks Gemini.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import gemini_embeddings as embeddings
from interlingua.adapters.dialects import gemini_images
from interlingua.adapters.dialects.gemini import CODEC as GEMINI
from interlingua.adapters.providers.base import Provider, read_upload
from interlingua.adapters.providers.reasoning_store import ReasoningStore
from interlingua.adapters.replies import Reply, Result


class GeminiProvider(Provider):
    kind = "gemini"
    codec = GEMINI
    chat_path = "/v1beta/models"
    media = frozenset({"images"})

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": key} if key else {}

    def path(self, request: ir.ChatRequest, model: str) -> str:
        return self._method(model, "streamGenerateContent?alt=sse" if request.stream else "generateContent")

    def _method(self, model: str, verb: str) -> str:
        """A method's path; the model is the client's text, so whatever it holds is escaped."""
        return f"{self.chat_path}/{quote(model, safe='/')}:{verb}"

    def native_body(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        return dict(request.native or {})  # the model is in the path

    def restore_message(self, message: ir.Message, store: ReasoningStore) -> ir.Message:
        """Signatures back on their calls, and ids that Gemini minted marked to be sent again."""
        message = super().restore_message(message, store)
        parts = [self._marked(part, store) for part in message.parts]
        if all(new is old for new, old in zip(parts, message.parts, strict=True)):
            return message
        return replace(message, parts=parts)

    def _marked(self, part: ir.Part, store: ReasoningStore) -> ir.Part:
        if isinstance(part, ir.ToolCall):
            call_id = part.id
        elif isinstance(part, ir.ToolResult):
            call_id = part.call_id
        else:
            return part
        if store.recall(self.kind, call_id) is None:
            return part
        return replace(part, extra={**(part.extra or {}), "gemini_id": True})

    def capabilities(self, model: str) -> tuple[str, ...]:
        """Gemini's image models are chat models that can draw: they do both."""
        found = super().capabilities(model)
        return ("chat", *found) if "images" in found else found

    async def images(self, request: ir.ImageRequest, model: str) -> Reply:
        files = [read_upload(u) for u in gemini_images.references(request)]
        body = gemini_images.encode_image_request(request, files)
        response = await self.open(self._method(model, "generateContent"), orjson.dumps(body))
        return Result(gemini_images.decode_image_response(self.parse(await self.read(response))))

    async def embed(self, request: ir.EmbeddingRequest, model: str) -> ir.EmbeddingResponse:
        body = embeddings.encode_batch_request(request, model)
        response = await self.open(self._method(model, "batchEmbedContents"), orjson.dumps(body))
        return embeddings.decode_batch_response(self.parse(await self.read(response)), model)

    async def count_tokens(self, request: ir.ChatRequest, model: str) -> ir.TokenCount:
        native = request.dialect == GEMINI.name and request.native is not None
        body = (self.native_body(request, model) if native
                else self.encode(request, model))
        inner = {k: v for k, v in body.items() if k in ("contents", "systemInstruction", "tools", "toolConfig",
                                                         "generationConfig", "system_instruction")}
        payload = {"generateContentRequest": {"model": f"models/{model}", **inner}}
        response = await self.open(self._method(model, "countTokens"), orjson.dumps(payload))
        return ir.TokenCount(int(self.parse(await self.read(response)).get("totalTokens", 0)))
