"""Gemini's context caches, kept by the gateway whatever the upstream.

It answers `/v1beta/cachedContents` (create, list, get, update of the expiry, delete) from its
store, with no upstream. A Gemini turn (`generateContent`, its stream, `countTokens`) whose
`cachedContent` names one of the key's caches is given the cache's contents before its own, and the
cache's system instruction, tools and tool config, before anything else reads it
(`dialects/gemini_caches.py`): any upstream then sees the whole turn, and the key's tpm is asked for
the cache's tokens as if the client had sent them. An unknown or expired cache of the gateway's is
Gemini's 404; a name of a cache made at Google is left for a Gemini upstream.

Sits outside the files layer, so a cache's `fileData` parts are read as a turn's own.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import gemini_caches as wire
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.storage.caches import Caches
from interlingua.middleware.limits import BYTES_PER_TOKEN, admit_more
from interlingua.middleware.respond import send_error, send_json
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, owner_of, redecode, state_of


class CachesMiddleware:
    def __init__(self, app: Any, store: Caches | None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        codec = state.get(DIALECT)
        if scope["type"] != "http" or self.store is None or codec is None or codec.name != GEMINI:
            await self.app(scope, receive, send)
            return
        operation = state.get(OPERATION)
        try:
            if operation in ops.CACHES:
                answer = await self._answer(operation, state, scope.get("query_string", b""))
                await send_json(send, answer)
                return
            request = state.get(REQUEST)
            parsed = ir.as_parsed(request) if isinstance(request, ir.ChatRequest) else None
            named = wire.reference(parsed) if parsed else None
            if named is not None and not await self._inline(scope, send, state, named):
                return
        except ir.GatewayError as error:
            await send_error(scope, send, error)
            return
        await self.app(scope, receive, send)

    async def _inline(self, scope: dict[str, Any], send: Any, state: dict[str, Any], cache_id: str) -> bool:
        """The turn with the cache's content; False once a refusal has been answered."""
        assert self.store is not None
        found = await self.store.get(owner_of(state), cache_id)
        if found is None:
            raise wire.not_found(wire.NAME_PREFIX + cache_id)
        cache, content = found
        if not await admit_more(scope, send, lambda: cache.tokens):
            return False
        redecode(scope, wire.with_cache(state[REQUEST].native or {}, orjson.loads(content)))
        return True

    async def _answer(self, operation: ops.Operation, state: dict[str, Any], query: bytes) -> Any:
        store = self.store
        assert store is not None
        owner, now = owner_of(state), int(time.time())
        if operation is ops.CACHES_CREATE:
            ask: wire.CacheAsk = state[REQUEST]
            content = orjson.dumps(ask.content)
            cache = wire.StoredCache(wire.new_cache_id(), ask.model, ask.display_name,
                                     len(content) // BYTES_PER_TOKEN, now, now, now + ask.seconds)
            await store.create(owner, cache, content)
            return wire.cache_object(cache)
        if operation is ops.CACHES_LIST:
            return wire.cache_list(*await store.page(owner, *wire.listing(query)))
        cache_id = wire.cache_id(state[PARAMS]["id"])
        if operation is ops.CACHES_GET:
            found = await store.get(owner, cache_id)
            if found is not None:
                return wire.cache_object(found[0])
        elif operation is ops.CACHES_UPDATE:
            extended = await store.extend(owner, cache_id, now + state[REQUEST].seconds)
            if extended is not None:
                return wire.cache_object(extended)
        elif await store.delete(owner, cache_id):
            return {}
        raise wire.not_found(wire.NAME_PREFIX + cache_id)
