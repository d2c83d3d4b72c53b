"""The `openai` kind: the OpenAI API and every server that speaks Chat Completions or Responses.

`api = "chat"` (the default) posts to `/chat/completions`; `api = "responses"` to `/responses`. A
client that speaks the same API gets the upstream's bytes with only the model name changed in the
request; so does a legacy Completions client, whose body goes to `/completions` of a Chat upstream.
Chat streams always ask for usage, so the ledger is complete even when the client did not (the
passthrough strips that chunk again). The gateway keeps Responses conversation state itself,
so a Responses upstream is asked statelessly: `store: false`, no `previous_response_id` nor
`conversation` (the history is in `input`), and reasoning's `encrypted_content` included so it can be sent back.

Audio and images (`speech`, `transcribe`, `images`) go to the same upstream whatever `api` says:
the client's request with the model changed, and the upstream's bytes back with its content type.
Uploads are re-encoded as a fresh multipart body whose files stream from their spools. A client of
another dialect (the utility forms) gets the answer decoded into IR instead, for its own codec.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects import openai_embeddings as embeddings
from interlingua.adapters.dialects import openai_media as media
from interlingua.adapters.dialects.base import UpstreamDialect
from interlingua.adapters.dialects.openai_chat import CODEC as CHAT
from interlingua.adapters.dialects.openai_completions import CODEC as COMPLETIONS
from interlingua.adapters.dialects.openai_media import MediaRequest
from interlingua.adapters.dialects.openai_moderations import ModerationRequest
from interlingua.adapters.dialects.openai_responses import CODEC as RESPONSES
from interlingua.adapters.providers import call_ids
from interlingua.adapters.providers.base import Provider
from interlingua.adapters.replies import Body, Chunks, Reply, Result
from interlingua.adapters.research.upstream import answer, responses_report

ENCRYPTED_REASONING = "reasoning.encrypted_content"
# What `/responses/input_tokens` and `/responses/compact` read of a request.
_COUNTED = frozenset({"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning",
                      "text", "truncation"})
_COMPACTED = frozenset({"model", "input", "instructions", "prompt_cache_key", "prompt_cache_retention",
                        "safety_identifier"})


class OpenAIProvider(Provider):
    kind = "openai"
    codec: UpstreamDialect[ir.ChatRequest, ir.ChatResponse] = CHAT
    chat_path = "/chat/completions"
    media = frozenset({"speech", "transcription", "images"})

    def __init__(self, *args: Any, api: str = "chat", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if api == "responses":
            self.codec = RESPONSES
            self.chat_path = "/responses"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def is_native(self, request: ir.ChatRequest) -> bool:
        """A legacy Completions request goes as it came to a Chat Completions server, which has that
        endpoint beside its chat one; a Responses upstream is asked a chat turn instead."""
        if request.dialect == COMPLETIONS.name:
            return self.codec is CHAT
        return super().is_native(request)

    def encode(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        """Another dialect's turn as this upstream's body; for a Mistral model, with the tool
        calls' ids as it takes them (`call_ids.py`)."""
        body = super().encode(request, model)
        if self.codec is CHAT and call_ids.wanted(self.underlying(model), self.url):
            call_ids.renamed(body)
        return body

    def path(self, request: ir.ChatRequest, model: str) -> str:
        return "/completions" if request.dialect == COMPLETIONS.name and self.codec is CHAT else self.chat_path

    def native_body(self, request: ir.ChatRequest, model: str, native: dict[str, Any]) -> dict[str, Any]:
        body = super().native_body(request, model, native)
        if self.codec is RESPONSES:
            body.pop("previous_response_id", None)
            body.pop("conversation", None)
            body["store"] = False
            include = body.get("include") or []
            if ENCRYPTED_REASONING not in include:
                body["include"] = [*include, ENCRYPTED_REASONING]
        elif request.stream and not request.stream_usage:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return body

    def capabilities(self, model: str) -> tuple[str, ...]:
        """Deep research models (o3-deep-research, o4-mini-deep-research) also answer `/v1/research`;
        moderation models (omni-moderation-latest, text-moderation-latest) only `/v1/moderations`."""
        name = self.underlying(model).lower()
        if "moderation" in name:
            return ("moderation",)
        found = super().capabilities(model)
        return (*found, "research") if "deep-research" in name else found

    async def research(self, request: ir.ResearchRequest, model: str) -> Reply:
        """A deep research model through the Responses API with web search, whatever `api` says."""
        body = {"model": model, "input": request.input, "tools": [{"type": "web_search_preview"}]}
        report = self.decoded(await self.read(await self.open("/responses", orjson.dumps(body))), responses_report)
        if report is None:
            raise ir.GatewayError("upstream", f"upstream {self.name} answered without `output`", retryable=True)
        return answer(report, request.stream)

    async def embed(self, request: ir.EmbeddingRequest, model: str) -> ir.EmbeddingResponse:
        response = await self.open("/embeddings", orjson.dumps(embeddings.encode_embedding_request(request, model)))
        return self.embedded(self.decoded(await self.read(response), embeddings.decode_embedding_response), request)

    async def count_tokens(self, request: ir.ChatRequest, model: str) -> ir.TokenCount:
        if self.codec is not RESPONSES:
            return await super().count_tokens(request, model)
        response = await self.open("/responses/input_tokens", self._responses_body(request, model, _COUNTED))
        return self.counted(await self.read(response), "input_tokens")

    async def compact(self, request: ir.ChatRequest, model: str) -> Reply:
        """A Responses upstream's own compaction, whose answer the client gets as it came."""
        if self.codec is not RESPONSES:
            return await super().compact(request, model)
        raw = await self.read(await self.open("/responses/compact", self._responses_body(request, model, _COMPACTED)))
        return Body(raw)

    def _responses_body(self, request: ir.ChatRequest, model: str, fields: frozenset[str]) -> bytes:
        """`request` as this Responses upstream takes it, with only the `fields` its endpoint reads."""
        native = self.is_native(request)
        full = self.native_body(request, model, request.native or {}) if native else self.encode(request, model)
        return orjson.dumps({k: v for k, v in full.items() if k in fields})

    async def speech(self, request: ir.SpeechRequest, model: str) -> Reply:
        response = await self.open("/audio/speech", orjson.dumps(media.encode_speech_request(request, model)))
        return await self._media_reply(response, request, stream=True)  # audio streams as it is made

    async def transcribe(self, request: ir.TranscriptionRequest, model: str) -> Reply:
        response = await self.upload("/audio/transcriptions", *media.transcription_form(request, model))
        if request.dialect != CHAT.name:
            raw = await self.read(response)
            return Result(self.decoded(raw, lambda answer: media.decode_transcription_response(answer, request)))
        return await self._media_reply(response, request, stream=request.stream)

    async def images(self, request: ir.ImageRequest, model: str) -> Reply:
        path, body = media.image_request(request, model)
        response = await (self.open(path, orjson.dumps(body)) if isinstance(body, dict) else self.upload(path, *body))
        if request.dialect != CHAT.name:
            raw = await self.read(response)
            return Result(self.decoded(raw, lambda answer: media.decode_image_response(answer, request)))
        return await self._media_reply(response, request, stream=request.stream)

    async def moderate(self, request: ModerationRequest, model: str) -> Reply:
        """The client's body with the model changed; the answer as it came (it carries no usage)."""
        response = await self.open("/moderations", orjson.dumps({**request.native, "model": model}))
        return Body(await self.read(response), usage=ir.Usage())

    async def _media_reply(self, response: httpx.Response, request: MediaRequest, stream: bool) -> Reply:
        media_type = response.headers.get("content-type")
        if stream:
            return Chunks(self.chunks(response), response.aclose, media_type)
        body = await self.read(response)
        return Body(body, media_type, media.usage_of(request, body))
