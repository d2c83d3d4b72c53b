"""The `gemini` kind: the Gemini Developer API.

`url` is the API root (`https://generativelanguage.googleapis.com`); the version and the model are
in each path. Streams are always requested as SSE; a Gemini client that asked for the streamed
JSON array gets the same chunks re-framed. Token counts come from `:countTokens` and are exact.
Image models (`image` in the name) also answer the images requests, through `:generateContent`
(see `gemini_images.py`), in IR, since no client of those requests speaks Gemini.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import gemini_embeddings as embeddings
from interlingua.adapters.dialects import gemini_images
from interlingua.adapters.dialects.gemini import CODEC as GEMINI
from interlingua.adapters.providers import slots
from interlingua.adapters.providers.base import Provider, read_upload
from interlingua.adapters.replies import Reply, Result
from interlingua.adapters.storage.reasoning import ReasoningStore


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

    def native_body(self, request: ir.ChatRequest, model: str, native: dict[str, Any]) -> dict[str, Any]:
        return dict(native)  # the model is in the path

    def restore_reasoning(self, request: ir.ChatRequest) -> ir.ChatRequest:
        """Also marks, for a client with a reasoning slot, the ids of calls whose turn carried a
        Gemini signature back: Gemini made that turn, so it minted those ids."""
        restored = super().restore_reasoning(request)
        if restored is request or slots.slot_of(request.dialect) is None:
            return restored
        minted = {p.id for m in restored.messages if m.role == "assistant" and any(
                      isinstance(r, ir.Reasoning) and r.provider == self.kind and r.signature for r in m.parts)
                  for p in m.parts if isinstance(p, ir.ToolCall)}
        if not minted:
            return restored
        return replace(restored, messages=[self._marking(m, minted.__contains__) for m in restored.messages])

    def restore_message(self, message: ir.Message, store: ReasoningStore) -> ir.Message:
        """Signatures back on their calls, and ids that Gemini minted marked to be sent again."""
        message = super().restore_message(message, store)
        return self._marking(message, lambda call_id: store.recall(self.kind, call_id) is not None)

    @staticmethod
    def _marking(message: ir.Message, minted: Callable[[str], bool]) -> ir.Message:
        parts = [_marked(part, minted) for part in message.parts]
        if all(new is old for new, old in zip(parts, message.parts, strict=True)):
            return message
        return replace(message, parts=parts)

    def capabilities(self, model: str) -> tuple[str, ...]:
        """Gemini's image models are chat models that can draw: they do both."""
        found = super().capabilities(model)
        return ("chat", *found) if "images" in found else found

    async def images(self, request: ir.ImageRequest, model: str) -> Reply:
        files = [read_upload(u) for u in gemini_images.references(request)]
        body = gemini_images.encode_image_request(request, files)
        response = await self.open(self._method(model, "generateContent"), orjson.dumps(body))
        return Result(self.decoded(await self.read(response), gemini_images.decode_image_response))

    async def embed(self, request: ir.EmbeddingRequest, model: str) -> ir.EmbeddingResponse:
        body = embeddings.encode_batch_request(request, model)
        response = await self.open(self._method(model, "batchEmbedContents"), orjson.dumps(body))
        answer = self.decoded(await self.read(response), lambda answer: embeddings.decode_batch_response(answer, model))
        return self.embedded(answer, request)

    async def count_tokens(self, request: ir.ChatRequest, model: str) -> ir.TokenCount:
        native = self.is_native(request)
        body = (self.native_body(request, model, request.native or {}) if native
                else self.encode(request, model))
        inner = {k: v for k, v in body.items() if k in ("contents", "systemInstruction", "tools", "toolConfig",
                                                         "generationConfig", "system_instruction")}
        payload = {"generateContentRequest": {"model": f"models/{model}", **inner}}
        response = await self.open(self._method(model, "countTokens"), orjson.dumps(payload))
        return self.counted(await self.read(response), "totalTokens")


def _marked(part: ir.Part, minted: Callable[[str], bool]) -> ir.Part:
    if isinstance(part, ir.ToolCall):
        call_id = part.id
    elif isinstance(part, ir.ToolResult):
        call_id = part.call_id
    else:
        return part
    if not minted(call_id):
        return part
    return replace(part, extra={**(part.extra or {}), "gemini_id": True})
