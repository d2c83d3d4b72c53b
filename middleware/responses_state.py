"""Conversation state for the OpenAI Responses dialect, kept by the gateway whatever the upstream.

Before: `previous_response_id` is replaced by the stored conversation (404 in OpenAI's shape when
it is unknown or deleted), so any upstream sees the whole history, and a key's tpm is asked for it
as if the client had sent it. After: with `store` (the default) the Response the client got,
streamed or not, is kept with its turn's input, and says `store` and `previous_response_id` as the
client asked them, whatever the upstream said (`watch.py`); a `background` turn is left to the background
layer (`middleware/background.py`), which keeps its Response as it runs. It also answers
`GET /v1/responses/{id}`, `DELETE`, `/input_items` and `/cancel` (which marks a running background
response `cancelled`) from the store, with no upstream. A response is found only by the key that
made it (`state.owner_of`); to any other, it is unknown.
"""

from __future__ import annotations

from typing import Any

import orjson

from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects.openai_responses_request import full_items
from interlingua.adapters.ir import ChatRequest, GatewayError, invalid
from interlingua.adapters.operations import STORED_RESPONSES
from interlingua.adapters.storage.responses import UNFINISHED, Store
from interlingua.middleware.limits import BYTES_PER_TOKEN, admit_more
from interlingua.middleware.respond import send_error, send_json
from interlingua.middleware.state import (
    BACKGROUND,
    DIALECT,
    OPERATION,
    PARAMS,
    REQUEST,
    TURN,
    BackgroundTurn,
    owner_of,
    redecode,
    state_of,
)
from interlingua.middleware.watch import ResponseWatch, patiently

RESPONSES = "responses"


def _not_found(response_id: str, param: str | None = None) -> GatewayError:
    return GatewayError("not_found", f"Response with id '{response_id}' not found.", param=param,
                        code="response_not_found")


class ResponsesStateMiddleware:
    def __init__(self, app: Any, store: Store | None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        codec = state.get(DIALECT)
        if scope["type"] != "http" or self.store is None or codec is None or codec.name != RESPONSES:
            await self.app(scope, receive, send)
            return
        try:
            await self._serve(scope, receive, send, state)
        except GatewayError as error:  # the store is unreachable; nothing has been sent yet
            await send_error(scope, send, error)

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any, state: dict[str, Any]) -> None:
        assert self.store is not None
        operation = state.get(OPERATION)
        owner = owner_of(state)
        if operation in STORED_RESPONSES:
            await self._stored(scope, send, operation, owner, state[PARAMS]["id"])
            return
        request = state.get(REQUEST)
        native = request.native if isinstance(request, ChatRequest) else None  # not a conversation's edit
        if native is None:
            await self.app(scope, receive, send)
            return
        previous = native.get("previous_response_id")
        background = operation is ops.CHAT and native.get("background") is True
        if background and native.get("store") is False:
            raise invalid("background", "needs `store`: a background response is kept for the client to poll")
        turn: list[Any] | None = None  # this turn's own input items, made once: upstream and store see the same ids
        if previous:
            history = await patiently(self.store.history, owner, previous)
            if history is None:
                await send_error(scope, send, _not_found(previous, "previous_response_id"))
                return
            if not await admit_more(scope, send, lambda: len(orjson.dumps(history)) // BYTES_PER_TOKEN):
                return
            turn = full_items(native.get("input"))
            redecode(scope, {**native, "input": history + turn})
        stored = native.get("store") is not False
        if operation is not ops.CHAT or not (stored or previous):
            await self.app(scope, receive, send)
            return
        kept = state[TURN] = turn if turn is not None else full_items(native.get("input"))
        if background:  # kept by the background layer as it runs
            state[BACKGROUND] = BackgroundTurn(kept, previous, owner)
            await self.app(scope, receive, send)
            return
        store = self.store

        async def keep(response: dict[str, Any]) -> None:
            store.put(owner, response, kept, previous)
        echo = {"store": True, "previous_response_id": previous} if stored else {"previous_response_id": previous}
        await self.app(scope, receive, ResponseWatch(keep if stored else None, send, echo).send)

    async def _cancel(self, owner: str | None, response_id: str) -> dict[str, Any] | None:
        """Mark a running background response `cancelled`: its run, on whichever worker or replica,
        reads that and stops. One that has ended is answered as it ended."""
        store = self.store
        assert store is not None
        found: dict[str, Any] | None = await patiently(store.get, owner, response_id)
        if found is None:
            return None
        if found.get("background") is not True:
            raise GatewayError("invalid_request", "Only responses created with background=true can be cancelled.",
                               param="response_id")
        if found.get("status") in UNFINISHED:
            found["status"] = "cancelled"
            store.put(owner, found, await store.input_items(owner, response_id) or [],
                      found.get("previous_response_id"))
        return found

    async def _stored(self, scope: dict[str, Any], send: Any, operation: ops.Operation, owner: str | None,
                      response_id: str) -> None:
        store = self.store
        assert store is not None
        if operation is ops.RESPONSES_GET:
            if b"stream=true" in scope.get("query_string", b""):
                raise invalid("stream", "resuming a response's stream is not offered here: GET the response "
                                        "without `stream` until its status is final")
            found: Any = await patiently(store.get, owner, response_id)
        elif operation is ops.RESPONSES_CANCEL:
            found = await self._cancel(owner, response_id)
        elif operation is ops.RESPONSES_DELETE:
            found = {"id": response_id, "object": "response.deleted", "deleted": True} if await store.delete(
                owner, response_id) else None
        else:
            query = pages.page_of(scope.get("query_string", b""))
            items = await patiently(store.input_items, owner, response_id)
            found = None if items is None else pages.item_list(*pages.paged(items, *query))
        if found is None:
            await send_error(scope, send, _not_found(response_id))
            return
        await send_json(send, found)
