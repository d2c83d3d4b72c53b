"""The `openai` kind: the OpenAI API and every server that speaks Chat Completions.

A client that speaks Chat Completions too gets the upstream's bytes with only the model name
changed in the request; streams always ask for usage, so the ledger is complete even when the
client did not ask for it (the passthrough strips that chunk again).
"""

from __future__ import annotations

import orjson

from adapters import ir
from adapters.dialects.openai_chat import CODEC as CHAT
from adapters.dialects.openai_chat import encode_chat_request
from adapters.providers.base import Provider, Reply


class OpenAIProvider(Provider):
    kind = "openai"
    codec = CHAT

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def request_body(self, request: ir.ChatRequest, model: str) -> bytes:
        if request.dialect != CHAT.name or request.native is None:
            return orjson.dumps(encode_chat_request(request, model, self.name))
        body = dict(request.native)
        body["model"] = model
        if request.stream and not request.stream_usage:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return orjson.dumps(body)

    async def chat(self, request: ir.ChatRequest, model: str) -> Reply:
        response = await self.open("/chat/completions", self.request_body(request, model))
        native = request.dialect == CHAT.name
        if request.stream:
            if native:
                return Reply(True, chunks=self.chunks(response), close=response.aclose)
            return Reply(False, events=self.events(response, CHAT.stream_decoder()), close=response.aclose)
        body = await self.read(response)
        if native:
            return Reply(True, body=body)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ir.GatewayError("upstream", f"upstream {self.name} answered invalid JSON") from None
        return Reply(False, result=CHAT.decode_response(payload))
