"""Files kept by the gateway, and chat turns that refer to them, whatever the upstream.

It answers `/v1/files` (upload, list, retrieve, content, delete) from its store, with no upstream,
in the Files API of the client's dialect (OpenAI's, or Anthropic's beta one), one store for both.
A chat turn (Chat Completions, Responses, Anthropic Messages) that names one of the key's files by
id gets the file's content inline, in its own dialect's shape (`dialects/file_refs.py`), before any
upstream is asked: an upstream of the same dialect takes the body as it is, another has the file
translated as if the client had sent it inline, and neither needs to know the gateway's ids. An id
the key has no file under is left as it is, for the upstream to judge (it may be the upstream's
own). Text files are asked of the key's tpm; binary ones (PDFs, images) are not estimated up
front, as inline media are not, and are counted when the usage arrives.

Sits inside the background layer, so a Responses turn is kept, and continued, with its references,
as OpenAI keeps it, and each turn reads the file as it is then.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import anthropic_files, file_refs, openai_files
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.files import FilesWire, FileUpload, StoredFile, new_file_id
from interlingua.adapters.dialects.openai_chat_request import NAME as OPENAI
from interlingua.adapters.storage.files import Files
from interlingua.middleware.limits import BYTES_PER_TOKEN, admit_more
from interlingua.middleware.respond import JSON, send_error
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, owner_of, state_of

WIRES: dict[str, FilesWire] = {OPENAI: openai_files, ANTHROPIC: anthropic_files}


class FilesMiddleware:
    def __init__(self, app: Any, store: Files | None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        operation = state.get(OPERATION)
        if scope["type"] != "http" or self.store is None or operation is None:
            await self.app(scope, receive, send)
            return
        try:
            if operation in ops.FILES:
                await self._answer(scope, send, operation, state)
                return
            request = state.get(REQUEST)
            if isinstance(request, ir.ChatRequest) and _may_refer(request):
                if not await self._inline(scope, send, state, request):
                    return
        except ir.GatewayError as error:
            await send_error(scope, send, error)
            return
        await self.app(scope, receive, send)

    async def _inline(self, scope: dict[str, Any], send: Any, state: dict[str, Any], request: ir.ChatRequest) -> bool:
        """Put the key's files a turn refers to inline; False once a refusal has been answered."""
        assert self.store is not None
        native = request.native or {}
        wanted = file_refs.references(native)
        found = await self.store.content(owner_of(state), sorted(wanted)) if wanted else {}
        if not found:
            return True
        contents = {file_id: file_refs.Content(stored.media_type, stored.filename, data)
                    for file_id, (stored, data) in found.items()}
        text = sum(len(c.data) for c in contents.values() if c.media_type.startswith("text/"))
        if not await admit_more(scope, send, lambda: text // BYTES_PER_TOKEN):
            return False
        state[REQUEST] = state[DIALECT].decode_request(state[OPERATION], file_refs.inline(native, contents),
                                                       dict(scope["headers"]), state.get(PARAMS) or {})
        return True

    async def _answer(self, scope: dict[str, Any], send: Any, operation: ops.Operation, state: dict[str, Any]) -> None:
        store = self.store
        assert store is not None
        owner = owner_of(state)
        wire = WIRES[state[DIALECT].name]
        file_id: str = (state.get(PARAMS) or {}).get("id", "")
        if operation is ops.FILES_CONTENT:
            found = (await store.content(owner, [file_id])).get(file_id)
            if found is None:
                raise wire.not_found(file_id)
            stored, data = found
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", stored.media_type.encode("latin-1"))]})
            await send({"type": "http.response.body", "body": data})
            return
        answer: Any
        if operation is ops.FILES_CREATE:
            answer = wire.file_object(await self._create(owner, state[REQUEST]))
        elif operation is ops.FILES_LIST:
            asked = wire.listing(scope.get("query_string", b""))
            answer = wire.file_list(*await store.page(owner, asked.purpose, asked.after, asked.limit, asked.desc))
        elif operation is ops.FILES_GET:
            answer = await store.get(owner, file_id)
            if answer is None:
                raise wire.not_found(file_id)
            answer = wire.file_object(answer)
        else:
            if not await store.delete(owner, file_id):
                raise wire.not_found(file_id)
            answer = wire.deleted_object(file_id)
        await send({"type": "http.response.start", "status": 200, "headers": [JSON]})
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})

    async def _create(self, owner: str | None, upload: FileUpload) -> StoredFile:
        assert self.store is not None
        created = int(time.time())
        stored = StoredFile(new_file_id(), upload.upload.filename or "file", upload.purpose, upload.media_type,
                            upload.upload.size, created, created + upload.expires_in if upload.expires_in else None)
        await self.store.create(owner, stored, await asyncio.to_thread(_read, upload.upload))
        return stored


def _may_refer(request: ir.ChatRequest) -> bool:
    """Whether a turn's body may name a file by id: a search of its bytes, where it came as bytes."""
    if request.raw is not None:
        return file_refs.MARK.found_in(request.raw)
    parsed = ir.as_parsed(request)
    return parsed is not None and file_refs.MARK.found_in(orjson.dumps(parsed))


def _read(upload: ir.Upload) -> bytes:
    upload.file.seek(0)
    return upload.file.read()
