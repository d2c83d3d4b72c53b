"""Gemini's File Search stores (`/v1beta/fileSearchStores`, `client.file_search_stores`), kept by the
gateway over its vector stores.

It answers every route from the vector stores and the Files store, with no upstream: stores
(create, list, get, delete, with `force` for one that holds documents), their documents (list,
get, delete), a file of the Files API imported (`importFile`), a file uploaded straight into a store
(the resumable `uploadToFileSearchStore`, whose pieces come with the session's id alone, as the
Files API's do), and the long-running Operations the last two answer with, done once the document
is indexed. The same stores are OpenAI vector stores to OpenAI's clients (`vector_stores.py`):
`VectorIndexer` indexes a document as it indexes a file, and each key reaches only its own stores.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import gemini_file_search as wire
from interlingua.adapters.dialects import gemini_files
from interlingua.adapters.dialects import openai_vector_stores as vectors
from interlingua.adapters.dialects.files import StoredFile, new_file_id
from interlingua.adapters.storage.files import UPLOAD_SECONDS
from interlingua.middleware.files import resumable_piece
from interlingua.middleware.respond import JSON, base_url, send_error, send_json
from interlingua.middleware.state import OPERATION, PARAMS, REQUEST, owner_of, state_of
from interlingua.middleware.vector_indexer import VectorIndexer
from interlingua.middleware.vector_stores import known

UPLOADED_PURPOSE = "assistants"  # a file uploaded into a store, as OpenAI names files for file search


class FileSearchStoresMiddleware:
    def __init__(self, app: Any, indexer: VectorIndexer | None, max_body_bytes: int = 32 * 1024 * 1024) -> None:
        self.app = app
        self.indexer = indexer
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        operation = state.get(OPERATION)
        if scope["type"] != "http" or operation not in ops.FILE_SEARCH_STORES:
            await self.app(scope, receive, send)
            return
        try:
            if self.indexer is None:
                raise ir.GatewayError("not_found", "File Search stores are not kept by this gateway")
            headers = [JSON]
            if operation is ops.FILE_SEARCH_UPLOAD:
                answer: Any = {}
                headers += await self._start(scope, state)
            elif operation is ops.FILE_SEARCH_UPLOAD_PIECE:
                answer, status = await self._piece(scope, receive, state[PARAMS])
                headers.append((b"x-goog-upload-status", status))
            else:
                answer = await self._answer(operation, state, scope.get("query_string", b""))
            await send_json(send, answer, headers)
        except ir.GatewayError as error:
            await send_error(scope, send, error)

    async def _answer(self, operation: ops.Operation, state: dict[str, Any], query: bytes) -> Any:
        assert self.indexer is not None
        store, owner, now = self.indexer.store, owner_of(state), int(time.time())
        asked: Any = state.get(REQUEST)
        if operation is ops.FILE_SEARCH_STORES_CREATE:
            made = vectors.StoredStore(wire.new_store_id(asked.display_name), asked.display_name, None, {}, now, now,
                                       None)
            await store.create(owner, made, [])
            return wire.store_object(await self._store(owner, made.id))
        if operation is ops.FILE_SEARCH_STORES_LIST:
            token, size = wire.listing(query)
            return wire.store_list(*await store.page(owner, token, size, False))
        params = state[PARAMS]
        store_id = params["id"]
        kept = await self._store(owner, store_id)
        if operation is ops.FILE_SEARCH_STORES_GET:
            return wire.store_object(kept)
        if operation is ops.FILE_SEARCH_STORES_DELETE:
            if kept.counts.total and not wire.forced(query):
                raise wire.not_empty(f"FileSearchStore {wire.NAME}{store_id}")
            await store.delete(owner, store_id)
            return {}
        if operation is ops.FILE_SEARCH_IMPORT:
            imported = known(await self.indexer.files.get(owner, asked.file_id),
                             gemini_files.not_found("files/" + asked.file_id))
            await store.add_files(store_id, [_waiting(store_id, asked, imported.filename, now)], None)
            self.indexer.wake()
            return wire.operation_object(await self._document(store_id, asked.file_id), uploaded=False)
        if operation is ops.FILE_SEARCH_OPERATIONS_GET:
            return wire.operation_object(await self._document(store_id, params["operation"]),
                                         uploaded=params["via"] == "upload")
        if operation is ops.FILE_SEARCH_DOCUMENTS_LIST:
            token, size = wire.listing(query)
            documents, more = await store.page_files(store_id, None, None, token, size, False)
            return wire.document_list([await self._document_object(owner, d) for d in documents], more,
                                      documents[-1].file_id if documents else None)
        document = await self._document(store_id, params["document"])
        if operation is ops.FILE_SEARCH_DOCUMENTS_GET:
            return await self._document_object(owner, document)
        if document.status == "completed" and not wire.forced(query):
            raise wire.not_empty(f"Document {wire.document_name(store_id, document.file_id)}")
        await store.delete_file(store_id, document.file_id)
        return {}

    async def _start(self, scope: dict[str, Any], state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
        """An upload into a store begins: its file's session in the Files store, and its document,
        held from the indexer until the last piece has come."""
        assert self.indexer is not None
        owner, store_id, now = owner_of(state), state[PARAMS]["id"], int(time.time())
        await self._store(owner, store_id)
        asked: wire.UploadAsk = state[REQUEST]
        start, session = asked.start, secrets.token_urlsafe(32)
        made = StoredFile(new_file_id(), start.display_name, UPLOADED_PURPOSE, start.media_type, start.size, now,
                          now + gemini_files.EXPIRY)  # as Google keeps the raw file; the document stays
        await self.indexer.files.begin(owner, session, made)
        document = _waiting(store_id, vectors.FileAsk(made.id, asked.document.attributes, asked.document.chunking),
                            start.display_name, now)
        await self.indexer.store.add_files(store_id, [document], None, held_until=now + UPLOAD_SECONDS)
        url = f"{base_url(scope)}{wire.UPLOAD}/{store_id}:uploadToFileSearchStore?upload_id={session}&" \
              "upload_protocol=resumable"
        return [(b"x-goog-upload-url", url.encode()), (b"x-goog-upload-status", b"active")]

    async def _piece(self, scope: dict[str, Any], receive: Any, params: dict[str, str]) -> tuple[Any, bytes]:
        """A piece of an upload into a store; after the last, its document is released to the indexer
        and the answer is the upload's Operation."""
        assert self.indexer is not None
        finished = await resumable_piece(self.indexer.files, scope, receive, params["upload"], self.max_body_bytes)
        if finished is None:
            return {}, b"active"
        store_id, file_id = params["id"], finished[1].id
        await self.indexer.store.renew(store_id, file_id, 0)
        self.indexer.wake()
        return wire.operation_object(await self._document(store_id, file_id), uploaded=True), b"final"

    async def _store(self, owner: str | None, store_id: str) -> vectors.StoredStore:
        assert self.indexer is not None
        return known(await self.indexer.store.get(owner, store_id), wire.store_not_found(wire.NAME + store_id))

    async def _document(self, store_id: str, document_id: str) -> vectors.StoredVectorFile:
        assert self.indexer is not None
        return known(await self.indexer.store.get_file(store_id, document_id),
                     wire.document_not_found(wire.document_name(store_id, document_id)))

    async def _document_object(self, owner: str | None, document: vectors.StoredVectorFile) -> dict[str, Any]:
        assert self.indexer is not None
        return wire.document_object(document, await self.indexer.files.get(owner, document.file_id))


def _waiting(store_id: str, asked: vectors.FileAsk, filename: str, now: int) -> vectors.StoredVectorFile:
    """A document to index."""
    return vectors.StoredVectorFile(store_id, asked.file_id, filename, now, "in_progress", asked.attributes or {},
                                    asked.chunking)
