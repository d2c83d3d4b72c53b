"""Files kept by the gateway, and chat turns that refer to them, whatever the upstream.

It answers `/v1/files` (upload, list, retrieve, content, delete) from its store, with no upstream,
in the Files API of the client's dialect (OpenAI's, or Anthropic's beta one), OpenAI's
`/v1/uploads` (a file in parts), and Gemini's `/v1beta/files` with its resumable uploads; one store
for all. A chat turn (Chat
Completions, Responses, Anthropic Messages, Gemini) that names one of the key's files by
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
import secrets
import time
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import anthropic_files, file_refs, gemini_files, openai_files
from interlingua.adapters.dialects import openai_uploads as uploads
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.files import FilesWire, FileUpload, StoredFile, new_file_id
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.openai_chat_request import NAME as OPENAI
from interlingua.adapters.storage.files import UPLOAD_SECONDS, Files
from interlingua.middleware.limits import BYTES_PER_TOKEN, admit_more
from interlingua.middleware.normalise import read_body
from interlingua.middleware.respond import JSON, base_url, send_error, send_json
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, owner_of, redecode, state_of

WIRES: dict[str, FilesWire] = {OPENAI: openai_files, ANTHROPIC: anthropic_files}


def _no_upload() -> ir.GatewayError:
    return ir.GatewayError("not_found", "no upload in progress at this URL")


class FilesMiddleware:
    def __init__(self, app: Any, store: Files | None, max_body_bytes: int = 32 * 1024 * 1024) -> None:
        self.app = app
        self.store = store
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        operation = state.get(OPERATION)
        if scope["type"] != "http" or self.store is None or operation is None:
            await self.app(scope, receive, send)
            return
        try:
            if operation in ops.FILES:
                if state[DIALECT].name == GEMINI:
                    await self._gemini(scope, receive, send, operation, state)
                elif operation in ops.UPLOADS:
                    await self._in_parts(send, operation, state)
                else:
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
        redecode(scope, file_refs.inline(native, contents))
        return True

    async def _answer(self, scope: dict[str, Any], send: Any, operation: ops.Operation, state: dict[str, Any]) -> None:
        store = self.store
        assert store is not None
        owner = owner_of(state)
        wire = WIRES[state[DIALECT].name]
        file_id: str = (state.get(PARAMS) or {}).get("id", "")
        if operation is ops.FILES_CONTENT:
            await self._content(send, owner, file_id, wire.not_found(file_id))
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
        await send_json(send, answer)

    async def _content(self, send: Any, owner: str | None, file_id: str, missing: ir.GatewayError) -> None:
        """A file's bytes, in its own type."""
        assert self.store is not None
        found = (await self.store.content(owner, [file_id])).get(file_id)
        if found is None:
            raise missing
        stored, data = found
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", stored.media_type.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": data})

    async def _in_parts(self, send: Any, operation: ops.Operation, state: dict[str, Any]) -> None:
        """OpenAI's Uploads: a file larger than one request, sent in parts of up to the body cap."""
        store = self.store
        assert store is not None
        owner, now = owner_of(state), int(time.time())
        asked: Any = state.get(REQUEST)  # an UploadAsk, a part's upload, a Completion; none for a cancel
        answer: dict[str, Any]
        if operation is ops.UPLOADS_CREATE:
            upload_id = uploads.new_upload_id()
            made = StoredFile(new_file_id(), asked.filename, asked.purpose, asked.media_type, asked.size, now,
                              now + asked.expires_in if asked.expires_in else None)
            await store.open_upload(owner, upload_id, made)
            answer = uploads.upload_object(upload_id, made, now + UPLOAD_SECONDS, "pending")
        elif operation is ops.UPLOADS_PART:
            upload_id, part_id = state[PARAMS]["id"], uploads.new_part_id()
            if await store.add_part(owner, upload_id, part_id, await asyncio.to_thread(_read, asked)) is None:
                raise uploads.not_found(upload_id)
            answer = uploads.part_object(part_id, upload_id, now)
        else:
            upload_id, done = state[PARAMS]["id"], operation is ops.UPLOADS_COMPLETE
            found = await (store.assemble(owner, upload_id, asked.part_ids, asked.md5) if done
                           else store.drop_upload(owner, upload_id))
            if found is None:
                raise uploads.not_found(upload_id)
            answer = uploads.upload_object(upload_id, found, found.created + UPLOAD_SECONDS,
                                           "completed" if done else "cancelled")
        await send_json(send, answer)

    async def _gemini(self, scope: dict[str, Any], receive: Any, send: Any, operation: ops.Operation,
                      state: dict[str, Any]) -> None:
        """Gemini's Files API: a resumable upload's start and pieces, and the File resources."""
        store = self.store
        assert store is not None
        owner, base, params = owner_of(state), base_url(scope), state.get(PARAMS) or {}
        headers: list[tuple[bytes, bytes]] = [JSON]
        answer: Any = {}
        if operation is ops.FILES_CREATE:
            start: gemini_files.UploadStart = state[REQUEST]
            session, now = secrets.token_urlsafe(32), int(time.time())
            await store.begin(owner, session, StoredFile(new_file_id(), start.display_name, "user_data",
                                                         start.media_type, start.size, now, now + gemini_files.EXPIRY))
            headers += [(b"x-goog-upload-url", f"{base}{gemini_files.UPLOAD}?upload_id={session}&"
                                               f"upload_protocol=resumable".encode()),
                        (b"x-goog-upload-status", b"active")]
        elif operation is ops.FILES_UPLOAD:
            answer, status = await self._piece(scope, receive, params["upload"], base)
            headers.append((b"x-goog-upload-status", status))
        elif operation is ops.FILES_LIST:
            asked = gemini_files.listing(scope.get("query_string", b""))
            answer = gemini_files.file_list(*await store.page(owner, None, asked.after, asked.limit, True), base)
        elif operation is ops.FILES_GET:
            found = await store.get(owner, gemini_files.file_id(params["id"]))
            if found is None:
                raise gemini_files.not_found(params["id"])
            answer = gemini_files.file_object(found, base)
        elif operation is ops.FILES_CONTENT:
            await self._content(send, owner, gemini_files.file_id(params["id"]), gemini_files.not_found(params["id"]))
            return
        elif not await store.delete(owner, gemini_files.file_id(params["id"])):
            raise gemini_files.not_found(params["id"])
        await send_json(send, answer, headers)

    async def _piece(self, scope: dict[str, Any], receive: Any, session: str, base: str) -> tuple[Any, bytes]:
        """A piece of a Files upload: the answer and the upload's status."""
        assert self.store is not None
        finished = await resumable_piece(self.store, scope, receive, session, self.max_body_bytes)
        if finished is None:
            return {}, b"active"
        return {"file": gemini_files.file_object(finished[1], base)}, b"final"

    async def _create(self, owner: str | None, upload: FileUpload) -> StoredFile:
        assert self.store is not None
        created = int(time.time())
        stored = StoredFile(new_file_id(), upload.upload.filename or "file", upload.purpose, upload.media_type,
                            upload.upload.size, created, created + upload.expires_in if upload.expires_in else None)
        await self.store.create(owner, stored, await asyncio.to_thread(_read, upload.upload))
        return stored


async def resumable_piece(store: Files, scope: dict[str, Any], receive: Any, session: str,
                          max_body_bytes: int) -> tuple[str | None, StoredFile] | None:
    """One piece of a Gemini resumable upload (to Files or to a File Search store), authorised by
    its session's id alone: None while more are to come, the owner and the file made after the
    last (`finalize`)."""
    headers = dict(scope["headers"])
    command = headers.get(b"x-goog-upload-command", b"").decode("latin-1")
    offset = headers.get(b"x-goog-upload-offset", b"0")
    if not offset.isdigit():
        raise ir.invalid("X-Goog-Upload-Offset", "must be the number of bytes uploaded so far")
    if not await store.uploading(session):  # before its bytes are read: they may be many
        raise _no_upload()
    chunks: list[bytes] = []
    if not await read_body(receive, max_body_bytes, chunks.append):
        raise ir.GatewayError("invalid_request", "the client went away")
    if await store.add(session, int(offset), b"".join(chunks)) is None:
        raise _no_upload()
    if "finalize" not in command:
        return None
    finished = await store.finish(session)
    if finished is None:
        raise _no_upload()
    return finished


def _may_refer(request: ir.ChatRequest) -> bool:
    """Whether a turn's body may name a file by id: a search of its bytes, where it came as bytes."""
    mark = file_refs.mark(request.dialect)
    if request.raw is not None:
        return mark.found_in(request.raw)
    parsed = ir.as_parsed(request)
    return parsed is not None and mark.found_in(orjson.dumps(parsed))


def _read(upload: ir.Upload) -> bytes:
    upload.file.seek(0)
    return upload.file.read()
