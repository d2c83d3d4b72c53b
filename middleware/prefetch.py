"""Reasoning state fetched from a shared store before a provider needs it.

A Chat Completions client has no slot for signed reasoning, so the gateway keeps it by tool-call
id (`adapters/storage/reasoning.py`). With replicas, the turn that minted it may have been served
by another one: this layer asks the shared store (`adapters/state/reasoning.py`) once, in one
round trip, for the tool calls of the conversation, so that the provider finds them locally.
Clients whose dialect carries the state sealed in the conversation need nothing and pass.
"""

from __future__ import annotations

from typing import Any, Protocol

from interlingua.adapters import ir
from interlingua.adapters.providers import slots
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import REQUEST, state_of


class Prefetching(Protocol):
    async def prefetch(self, call_ids: list[str]) -> None: ...


class PrefetchMiddleware:
    def __init__(self, app: Any, store: Prefetching) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = state_of(scope).get(REQUEST) if scope["type"] == "http" else None
        if isinstance(request, ir.ChatRequest) and slots.slot_of(request.dialect) is None:
            try:
                calls = [p.id for m in request.messages if m.role == "assistant"
                         for p in m.parts if isinstance(p, ir.ToolCall)]
            except ir.GatewayError as error:  # the first read of messages that a codec refuses
                await send_error(scope, send, error)
                return
            if calls:
                await self.store.prefetch(calls)
        await self.app(scope, receive, send)
