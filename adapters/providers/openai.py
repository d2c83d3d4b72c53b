"""The `openai` kind: the OpenAI API and every server that speaks Chat Completions.

A client that speaks Chat Completions too gets the upstream's bytes with only the model name
changed in the request; streams always ask for usage, so the ledger is complete even when the
client did not ask for it (the passthrough strips that chunk again).
"""

from __future__ import annotations

from typing import Any

from adapters import ir
from adapters.dialects.openai_chat import CODEC as CHAT
from adapters.providers.base import Provider


class OpenAIProvider(Provider):
    kind = "openai"
    codec = CHAT
    chat_path = "/chat/completions"

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    def native_body(self, request: ir.ChatRequest, model: str) -> dict[str, Any]:
        body = super().native_body(request, model)
        if request.stream and not request.stream_usage:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return body
