"""OpenAI's Vector Stores API (`/v1/vector_stores`, `client.vector_stores`), kept by the gateway.

It answers every route from its store, with no upstream: stores (create, list, retrieve, update,
delete), their files (add, list, retrieve, update attributes, remove, parsed content), file batches
(create, retrieve, cancel, list files) and search. A file added is one of the calling key's files
in the Files store (a 404 names any other); `VectorIndexer` reads, cuts and embeds it in the
background, and a search ranks its chunks (`adapters/local/vector_index.py`). Each key reaches only
its own stores. Nothing here is metered: no upstream is asked and no tokens are bought.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import gemini_files
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects import openai_vector_stores as wire
from interlingua.adapters.dialects.openai_chat_request import NAME as OPENAI
from interlingua.adapters.storage.files import Files
from interlingua.adapters.storage.vector_stores import VectorStores
from interlingua.middleware.respond import send_error, send_json
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, owner_of, state_of
from interlingua.middleware.vector_indexer import VectorIndexer

log = logging.getLogger("interlingua.vector_stores")
T = TypeVar("T")


class VectorStoresMiddleware:
    def __init__(self, app: Any, indexer: VectorIndexer | None) -> None:
        self.app = app
        self.indexer = indexer
        self.store: VectorStores | None = indexer.store if indexer is not None else None
        self.files: Files | None = indexer.files if indexer is not None else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        operation = state.get(OPERATION)
        if operation is ops.FILES_DELETE and self.store is not None:
            await self._deleting(scope, receive, send, state)
            return
        if scope["type"] != "http" or operation not in ops.VECTOR_STORES or state[DIALECT].name != OPENAI:
            await self.app(scope, receive, send)
            return
        try:
            if self.indexer is None:
                raise ir.GatewayError("not_found", "vector stores are not kept by this gateway")
            await send_json(send, await self._answer(operation, state, scope.get("query_string", b"")))
        except ir.GatewayError as error:
            await send_error(scope, send, error)

    async def _deleting(self, scope: dict[str, Any], receive: Any, send: Any, state: dict[str, Any]) -> None:
        """A file deleted from the Files store (through any dialect's Files API) leaves every vector
        store, as OpenAI's delete does; only its owner could delete it."""
        deleted = False

        async def watching(message: dict[str, Any]) -> None:
            nonlocal deleted
            if message["type"] == "http.response.start":
                deleted = message["status"] == 200
            await send(message)

        await self.app(scope, receive, watching)
        if deleted and self.store is not None:
            file_id = gemini_files.file_id(state[PARAMS]["id"])
            try:
                await self.store.forget_file(file_id)
            except ir.GatewayError:  # the answer has gone: the stores keep the file's chunks
                log.warning("vector stores: %s was deleted but stays in its vector stores (store unreachable)",
                            file_id)

    async def _answer(self, operation: ops.Operation, state: dict[str, Any], query: bytes) -> Any:
        store, owner, now = self.store, owner_of(state), int(time.time())
        assert store is not None
        asked: Any = state.get(REQUEST)
        if operation is ops.VECTOR_STORES_CREATE:
            made = wire.StoredStore(wire.new_store_id(), asked.name or "", asked.description, asked.metadata or {},
                                    now, now, asked.expires_days)
            await store.create(owner, made, await self._files(owner, made.id, asked.files, now))
            self._wake(asked.files)
            return wire.store_object(await self._store(owner, made.id), now)
        if operation is ops.VECTOR_STORES_LIST:
            after, limit, desc = pages.page_of(query)
            found, more = await store.page(owner, after, limit, desc)
            return pages.item_list([wire.store_object(s, now) for s in found], more)
        store_id = state[PARAMS]["id"]
        if operation is ops.VECTOR_STORES_DELETE:
            if not await store.delete(owner, store_id):
                raise wire.store_not_found(store_id)
            return wire.deleted_object("vector_store", store_id)
        if operation is ops.VECTOR_STORES_UPDATE:
            return wire.store_object(known(await store.update(owner, store_id, asked), wire.store_not_found(store_id)),
                                     now)
        kept = await self._store(owner, store_id)
        if operation is ops.VECTOR_STORES_GET:
            return wire.store_object(kept, now)
        if operation is ops.VECTOR_STORES_SEARCH:
            if wire.expired(kept, now):
                raise ir.invalid("vector_store_id", f"the vector store {store_id} has expired")
            assert self.indexer is not None
            hits = await self.indexer.search(store_id, asked)
            await store.touch(store_id, now)
            return wire.search_page(asked.queries, hits)
        return await self._files_answer(operation, state, query, store_id, now)

    async def _files_answer(self, operation: ops.Operation, state: dict[str, Any], query: bytes, store_id: str,
                            now: int) -> Any:
        store, owner, params = self.store, owner_of(state), state[PARAMS]
        assert store is not None
        asked: Any = state.get(REQUEST)
        if operation is ops.VECTOR_FILES_CREATE:
            await store.add_files(store_id, await self._files(owner, store_id, [asked], now), None)
            self._wake([asked])
            return wire.file_object(await self._file(store_id, asked.file_id))
        if operation is ops.VECTOR_BATCHES_CREATE:
            batch = wire.StoredBatch(wire.new_batch_id(), store_id, now, False)
            await store.add_files(store_id, await self._files(owner, store_id, asked, now, batch.id), batch)
            self._wake(asked)
            return wire.batch_object(await self._batch(store_id, batch.id))
        if operation is ops.VECTOR_FILES_LIST or operation is ops.VECTOR_BATCHES_FILES:
            batch_id = params.get("batch")
            if batch_id is not None:
                await self._batch(store_id, batch_id)
            status = pages.query_value(query, "filter")
            if status is not None and status not in wire.STATUSES:
                raise ir.invalid("filter", f"must be one of {', '.join(wire.STATUSES)}")
            after, limit, desc = pages.page_of(query)
            found, more = await store.page_files(store_id, batch_id, status, after, limit, desc)
            return pages.item_list([wire.file_object(f) for f in found], more)
        if operation is ops.VECTOR_BATCHES_GET:
            return wire.batch_object(await self._batch(store_id, params["batch"]))
        if operation is ops.VECTOR_BATCHES_CANCEL:
            return wire.batch_object(known(await store.cancel_batch(store_id, params["batch"]),
                                            wire.batch_not_found(params["batch"])))
        file_id = params["file"]
        if operation is ops.VECTOR_FILES_DELETE:
            if not await store.delete_file(store_id, file_id):
                raise wire.file_not_found(file_id)
            return wire.deleted_object("vector_store.file", file_id)
        if operation is ops.VECTOR_FILES_UPDATE:
            return wire.file_object(known(await store.set_attributes(store_id, file_id, asked.attributes),
                                           wire.file_not_found(file_id)))
        if operation is ops.VECTOR_FILES_CONTENT:
            await self._file(store_id, file_id)
            return wire.content_page(stitched(await store.texts(store_id, file_id)))
        return wire.file_object(await self._file(store_id, file_id))

    async def _store(self, owner: str | None, store_id: str) -> wire.StoredStore:
        assert self.store is not None
        return known(await self.store.get(owner, store_id), wire.store_not_found(store_id))

    async def _file(self, store_id: str, file_id: str) -> wire.StoredVectorFile:
        assert self.store is not None
        return known(await self.store.get_file(store_id, file_id), wire.file_not_found(file_id))

    async def _batch(self, store_id: str, batch_id: str) -> wire.StoredBatch:
        assert self.store is not None
        return known(await self.store.get_batch(store_id, batch_id), wire.batch_not_found(batch_id))

    async def _files(self, owner: str | None, store_id: str, asks: list[wire.FileAsk], now: int,
                     batch_id: str | None = None) -> list[wire.StoredVectorFile]:
        """The files to add, each one of the key's files (else a 404 naming it), waiting to be indexed."""
        assert self.files is not None
        made = []
        for ask in asks:
            found = known(await self.files.get(owner, ask.file_id), wire.file_not_found(ask.file_id))
            made.append(wire.StoredVectorFile(store_id, ask.file_id, found.filename, now, "in_progress",
                                              ask.attributes or {}, ask.chunking, batch_id=batch_id))
        return made

    def _wake(self, asks: list[wire.FileAsk]) -> None:
        if asks and self.indexer is not None:
            self.indexer.wake()


def known(found: T | None, missing: ir.GatewayError) -> T:
    """What the store found, or the 404 that says what it did not."""
    if found is None:
        raise missing
    return found


def stitched(chunks: list[tuple[int, str]]) -> list[str]:
    """A file's text from its overlapping chunks: each chunk's part past the end of the last."""
    texts, reached = [], 0
    for start, text in chunks:
        fresh = text[max(reached - start, 0):]
        if fresh:
            texts.append(fresh)
        reached = max(reached, start + len(text))
    return texts
