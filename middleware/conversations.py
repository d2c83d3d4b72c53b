"""Conversations for the OpenAI Responses dialect, kept by the gateway whatever the upstream.

It answers `/v1/conversations` (create, retrieve, update, delete; items: create, list, retrieve,
delete) from its store, with no upstream. A turn naming a `conversation` (`POST /v1/responses`,
`/input_tokens`) is given the conversation's items before its own input, so any upstream sees the
whole history, and a key's tpm is asked for them as if the client had sent them (404 in OpenAI's
shape for an unknown conversation). Once the turn has its answer, its input items and the answer's
output are appended, before the client gets the end of that answer; a background turn's are
appended when its run ends, by the background layer.

A conversation is found only by the key that made it (`state.owner_of`); to any other, it is
unknown, as a stored Response is.

Sits inside `responses_state`, which keeps the turn's Response with its own input only, and sets
a background turn for the background layer inside.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import openai_conversations as wire
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects.openai_responses_request import NAME, full_items
from interlingua.adapters.storage.conversations import Conversations
from interlingua.middleware.limits import BYTES_PER_TOKEN, admit_more
from interlingua.middleware.respond import send_error, send_json
from interlingua.middleware.state import (
    BACKGROUND,
    DIALECT,
    OPERATION,
    PARAMS,
    REQUEST,
    TURN,
    owner_of,
    redecode,
    state_of,
)
from interlingua.middleware.watch import ResponseWatch

log = logging.getLogger("interlingua.conversations")


class ConversationsMiddleware:
    def __init__(self, app: Any, store: Conversations | None) -> None:
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
        owner = owner_of(state)
        history: list[Any] | None = None
        try:
            if operation in ops.CONVERSATIONS:
                answer = await self._answer(scope, operation, state, owner)
                await send_json(send, answer)
                return
            native = request.native if isinstance(request, ir.ChatRequest) else None
            conversation = wire.conversation_of(native) if native else None
            if conversation is not None:
                history = await self.store.items(owner, conversation)
                if history is None:
                    raise wire.not_found(conversation, "conversation")
        except ir.GatewayError as error:
            await send_error(scope, send, error)
            return
        if native is None or conversation is None or history is None:
            await self.app(scope, receive, send)
            return
        if not await admit_more(scope, send, lambda: len(orjson.dumps(history)) // BYTES_PER_TOKEN):
            return
        turn = state.get(TURN) or full_items(native.get("input"))
        redecode(scope, {**native, "input": history + turn, "conversation": {"id": conversation}})
        if operation is not ops.CHAT:
            await self.app(scope, receive, send)
            return
        extend = partial(self._extend, owner, conversation, turn)
        background = state.get(BACKGROUND)
        if background is not None:
            background.done.append(extend)
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, ResponseWatch(extend, send, {"conversation": {"id": conversation}}).send)

    async def _extend(self, owner: str | None, conversation: str, turn: list[Any], response: dict[str, Any]) -> None:
        """Append a turn's input and its answer's output; a conversation deleted meanwhile stays so."""
        assert self.store is not None
        try:
            await self.store.append(owner, conversation, turn + response["output"])
        except ir.GatewayError:  # the store went away mid-turn: the client keeps its answer
            log.warning("conversation %s: a turn's items were not kept, the store being unreachable", conversation)

    async def _answer(self, scope: dict[str, Any], operation: ops.Operation, state: dict[str, Any],
                      owner: str | None) -> Any:
        store = self.store
        assert store is not None
        params = state[PARAMS]
        conversation: str = params.get("id", "")
        edit: wire.ConversationEdit | None = state.get(REQUEST)
        if operation is ops.CONVERSATIONS_CREATE:
            assert edit is not None
            metadata = edit.metadata or {}
            made, created = await store.create(owner, metadata, edit.items)
            return wire.conversation_object(made, created, metadata)
        if operation is ops.CONVERSATIONS_GET:
            found = await store.get(owner, conversation)
            if found is None:
                raise wire.not_found(conversation)
            return wire.conversation_object(conversation, *found)
        if operation is ops.CONVERSATIONS_UPDATE:
            assert edit is not None and edit.metadata is not None
            updated = await store.update(owner, conversation, edit.metadata)
            if updated is None:
                raise wire.not_found(conversation)
            return wire.conversation_object(conversation, updated, edit.metadata)
        if operation is ops.CONVERSATIONS_DELETE:
            if not await store.delete(owner, conversation):
                raise wire.not_found(conversation)
            return wire.deleted_object(conversation)
        if operation is ops.CONVERSATION_ITEMS_CREATE:
            assert edit is not None
            if not await store.append(owner, conversation, edit.items):
                raise wire.not_found(conversation)
            return pages.item_list(edit.items, False)
        if operation is ops.CONVERSATION_ITEMS_LIST:
            page = await store.page(owner, conversation, *pages.page_of(scope.get("query_string", b"")))
            if page is None:
                raise wire.not_found(conversation)
            return pages.item_list(*page)
        item = params["item"]
        if operation is ops.CONVERSATION_ITEM_GET:
            found_item = await store.item(owner, conversation, item)
            if found_item is None:
                missing = await store.get(owner, conversation) is None
                raise wire.not_found(conversation) if missing else wire.item_not_found(item)
            return found_item
        deleted = await store.delete_item(owner, conversation, item)
        if not deleted:
            raise wire.not_found(conversation) if deleted is None else wire.item_not_found(item)
        found = await store.get(owner, conversation)
        if found is None:  # deleted meanwhile
            raise wire.not_found(conversation)
        return wire.conversation_object(conversation, *found)
