"""Stored Chat Completions, kept by the gateway whatever the upstream.

A Chat Completions turn with `store: true` is kept once its answer is whole: the `chat.completion`
the client got (a stream's chunks folded into one, with the usage the upstream reported), its
request's messages and metadata, before the client gets the end of that answer; a retrieval that
comes sooner (a client that stopped reading at `[DONE]`, another worker) waits for it a moment. The layer also
answers `GET /v1/chat/completions` (list, by model and metadata), `GET`, `POST` (metadata) and
`DELETE /v1/chat/completions/{id}` and `/messages` from its store, with no upstream. A completion
is found only by the key that made it (`state.owner_of`).

The upstream is sent `store` as the client sent it: an OpenAI upstream keeps its own copy too.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import orjson

from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import openai_chat_store as wire
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects import sse
from interlingua.adapters.dialects.openai_chat import encode_usage
from interlingua.adapters.dialects.openai_chat_request import NAME
from interlingua.adapters.dialects.openai_conversations import metadata_of
from interlingua.adapters.ir import ChatRequest, GatewayError, as_parsed
from interlingua.adapters.storage.completions import Completions
from interlingua.middleware.respond import send_error, send_json
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, REQUEST_ID, USAGE, owner_of, state_of
from interlingua.middleware.watch import Keeper, patiently

log = logging.getLogger("interlingua.completions")


class StoredCompletionsMiddleware:
    def __init__(self, app: Any, store: Completions | None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        codec = state.get(DIALECT)
        if scope["type"] != "http" or self.store is None or codec is None or codec.name != NAME:
            await self.app(scope, receive, send)
            return
        operation = state.get(OPERATION)
        request = state.get(REQUEST)
        try:
            if operation in ops.STORED_COMPLETIONS:
                answer = await self._answer(scope, operation, state)
                await send_json(send, answer)
                return
            native = None
            if operation is ops.CHAT and isinstance(request, ChatRequest) and (
                    as_parsed(request) or {}).get("store") is True:
                native = request.native or {}  # its nesting checked: the gateway encodes what it keeps
                metadata = metadata_of(native) or {}
        except GatewayError as error:
            await send_error(scope, send, error)
            return
        if native is None:
            await self.app(scope, receive, send)
            return
        keep = partial(self._keep, owner_of(state), native, metadata, state.get(REQUEST_ID))
        await self.app(scope, receive, CompletionWatch(keep, send, state).send)

    async def _keep(self, owner: str | None, native: dict[str, Any], metadata: dict[str, str],
                    request_id: str | None, completion: dict[str, Any]) -> None:
        assert self.store is not None
        try:
            await self.store.put(owner, wire.stored(completion, native, request_id),
                                 wire.stored_messages(completion["id"], native.get("messages")), native.get("model"),
                                 metadata)
        except GatewayError:  # the store went away mid-turn: the client keeps its answer
            log.warning("chat completion %s was not kept, the store being unreachable", completion["id"])

    async def _answer(self, scope: dict[str, Any], operation: ops.Operation, state: dict[str, Any]) -> Any:
        store = self.store
        assert store is not None
        owner = owner_of(state)
        query = scope.get("query_string", b"")
        if operation is ops.CHAT_COMPLETIONS_LIST:
            listed = wire.list_query(query)
            return pages.item_list(*await store.page(owner, listed.after, listed.limit, listed.desc, listed.model,
                                                     listed.metadata))
        completion_id = state[PARAMS]["id"]
        found: Any
        if operation is ops.CHAT_COMPLETIONS_GET:
            found = await patiently(store.get, owner, completion_id)
        elif operation is ops.CHAT_COMPLETIONS_UPDATE:
            found = await store.update(owner, completion_id, state[REQUEST].metadata)
        elif operation is ops.CHAT_COMPLETIONS_DELETE:
            found = wire.deleted_object(completion_id) if await store.delete(owner, completion_id) else None
        else:
            messages = await patiently(store.messages, owner, completion_id)
            found = None if messages is None else pages.item_list(
                *pages.paged(messages, *pages.page_of(query, order="asc")))
        if found is None:
            raise wire.not_found(completion_id)
        return found


class CompletionWatch:
    """A Chat answer watched on its way out: whole, parsed once at its end; streamed, each chunk
    folded (`wire.ChunkFold`), with the usage the upstream reported (`state[USAGE]`) where the
    client did not ask for it in the stream. The keeper is awaited before the message that ends the
    answer goes on (a retrieval that comes quicker waits for it: `patiently`). An answer that is
    not a 200, or a stream that carried an error, is not kept."""

    __slots__ = ("keep", "downstream", "state", "status", "stream", "body", "splitter", "fold", "failed")

    def __init__(self, keep: Keeper, downstream: Any, state: dict[str, Any]) -> None:
        self.keep = keep
        self.downstream = downstream
        self.state = state
        self.status = 0
        self.stream = False
        self.body: list[bytes] = []
        self.splitter = sse.Splitter()
        self.fold = wire.ChunkFold()
        self.failed = False

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.stream = any(k == b"content-type" and v.startswith(b"text/event-stream")
                              for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body" and self.status == 200:
            chunk = message.get("body", b"")
            ended = not message.get("more_body", False)
            if self.stream:
                self._fold(chunk)
                if ended and not self.failed:
                    await self._keep(self._streamed())
            else:
                self.body.append(chunk)
                if ended:
                    await self._keep(_parsed(b"".join(self.body)))
        await self.downstream(message)

    def _fold(self, chunk: bytes) -> None:
        for _, data in sse.events(self.splitter.feed(chunk)):
            if data == b"[DONE]":
                continue
            event = _parsed(data)
            if isinstance(event, dict) and "error" in event:
                self.failed = True
            self.fold.feed(event)

    def _streamed(self) -> dict[str, Any]:
        completion = self.fold.completion()
        usage = self.state.get(USAGE)
        if completion["usage"] is None and usage is not None:
            completion["usage"] = encode_usage(usage)
        return completion

    async def _keep(self, completion: Any) -> None:
        if isinstance(completion, dict) and isinstance(completion.get("id"), str) and completion["id"] \
                and isinstance(completion.get("choices"), list):
            await self.keep(completion)


def _parsed(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
