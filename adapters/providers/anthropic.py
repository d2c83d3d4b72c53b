"""The `anthropic` kind: Anthropic's Messages API.

`url` is the API root without `/v1`, as the Anthropic SDK takes it. Same-dialect clients get the
upstream's bytes, with their `anthropic-beta` flags forwarded; token counts come from Anthropic's
own counting endpoint and are exact.

Clients of other dialects get Anthropic's prompt caching (`dialects/prompt_cache.py`): an agent
on Claude would otherwise pay for its whole conversation again every turn, at ten times the price
of a cache read. A cache write costs a quarter more than plain input; `drop = ["cache_control"]`
on the provider turns the automatic breakpoint off.
"""

from __future__ import annotations

from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters.dialects.anthropic import CODEC as MESSAGES
from interlingua.adapters.providers.base import Provider

VERSION = "2023-06-01"
_COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
                 "cache_control", "mcp_servers", "context_management")


class AnthropicProvider(Provider):
    kind = "anthropic"
    codec = MESSAGES
    chat_path = "/v1/messages"
    signs_text = True  # a thinking block's signature covers its text: the sealed state keeps both

    def auth_headers(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": VERSION}
        if key:
            headers["x-api-key"] = key
        return headers

    def capabilities(self, model: str) -> tuple[str, ...]:
        return ("chat",)

    async def count_tokens(self, request: ir.ChatRequest, model: str) -> ir.TokenCount:
        native = self.is_native(request)
        full: dict[str, Any] = (self.native_body(request, model, request.native or {}) if native
                                else self.encode(request, model))
        body = {k: full[k] for k in _COUNT_FIELDS if k in full}
        response = await self.open("/v1/messages/count_tokens", orjson.dumps(body),
                                   self.forwarded_headers(request) if native else None)
        return self.counted(await self.read(response), "input_tokens")
