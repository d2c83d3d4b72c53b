"""Request normalisation: read the body under a size cap and parse it into the IR.

A body over the cap is refused with 413 as soon as it is known to be too big (from
Content-Length, or while reading), never after holding it whole. Malformed JSON, JSON nested
deeper than `max_depth` (see `nesting`) and invalid fields are 400s in the client's dialect that
name the field. A `lazy` operation's body (a chat turn) is checked for nesting when the gateway
first reads it (`ir.DeferredChatRequest`): one sent on to a same-dialect upstream as it came is
not walked here, and costs no check.

A multipart/form-data body (audio and image uploads) is parsed as it streams in, with
python-multipart: text fields become strings, and each file part is written straight into a
`SpooledTemporaryFile`, in memory up to `spool_bytes` and on disk beyond, so an upload is held
once, never as a whole body plus its parts. The codec gets an `ir.Form`; the spools are closed
when the request is over. An application/x-www-form-urlencoded body becomes an `ir.Form` of text
fields, so a codec that takes forms takes both. An operation that `takes_document` (the document
utilities) may also be sent the document itself as the body, in any other content type: it is
spooled the same way, as an `ir.Form` whose one upload is `file`, named by `Content-Disposition`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from tempfile import SpooledTemporaryFile
from typing import Any
from urllib.parse import parse_qsl

import orjson
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from interlingua.adapters.ir import ChatRequest, DeferredChatRequest, Form, GatewayError, Upload, as_parsed, invalid
from interlingua.middleware.nesting import MAX_DEPTH, check_nesting
from interlingua.middleware.respond import send_error
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, REQUEST, state_of

HEAD_BYTES = 16  # enough for every file signature a codec checks


def _too_large(cap: int) -> GatewayError:
    return GatewayError("too_large", f"request body is larger than the limit of {cap} bytes")


def _not_multipart(why: str) -> GatewayError:
    return GatewayError("invalid_request", f"request body is not valid multipart/form-data: {why}")


class NormalisationMiddleware:
    def __init__(self, app: Any, max_body_bytes: int = 32 * 1024 * 1024, spool_bytes: int = 1024 * 1024,
                 max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.spool_bytes = spool_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope)
        codec = state.get(DIALECT)
        if (scope["type"] != "http" or codec is None or scope["method"] not in ("POST", "PATCH")
                or not state[OPERATION].reads_body):
            await self.app(scope, receive, send)
            return
        cap = self.max_body_bytes
        content_type = disposition = b""
        for name, value in scope["headers"]:
            if name == b"content-length" and _exceeds(value, cap):
                await send_error(scope, send, _too_large(cap))
                return
            if name == b"content-type":
                content_type = value
            elif name == b"content-disposition":
                disposition = value
        reader: FormReader | DocumentReader | None = None
        body = unchecked = b""  # `unchecked`: a JSON body whose nesting is checked as it is decoded
        operation = state[OPERATION]
        try:
            try:
                if content_type[:19].lower() == b"multipart/form-data":
                    boundary = parse_options_header(content_type)[1].get(b"boundary", b"")
                    reader = FormReader(boundary, self.spool_bytes)
                    if not await self._read(scope, receive, send, reader.write):
                        return
                    parsed: Any = reader.finish()
                elif operation.takes_document and _is_document(content_type):
                    reader = DocumentReader(content_type, disposition, self.spool_bytes)
                    if not await self._read(scope, receive, send, reader.write):
                        return
                    parsed = reader.form
                else:
                    chunks: list[bytes] = []
                    if not await self._read(scope, receive, send, chunks.append):
                        return
                    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    if content_type[:33].lower() == b"application/x-www-form-urlencoded":
                        parsed = _url_encoded(body)
                    else:
                        parsed = {} if not body and operation.empty_body else _json(body)
                        if operation.lazy:
                            unchecked = body
                        else:
                            self._check_nesting(body)
                request = state[REQUEST] = codec.decode_request(operation, parsed, dict(scope["headers"]),
                                                                state.get(PARAMS) or {})
                if isinstance(request, ChatRequest) and as_parsed(request) is parsed:
                    request.raw = body  # what a same-dialect upstream can be sent as it came
                if unchecked:
                    if isinstance(request, DeferredChatRequest) and as_parsed(request) is parsed:
                        request.checking(partial(self._check_nesting, unchecked))
                    else:
                        self._check_nesting(unchecked)
            except GatewayError as error:
                await send_error(scope, send, error)
                return
            await self.app(scope, receive, send)
        finally:
            if reader is not None:  # the spools live as long as the request, however it ends
                reader.form.close()

    def _check_nesting(self, body: bytes) -> None:
        check_nesting(body, self.max_depth)

    async def _read(self, scope: dict[str, Any], receive: Any, send: Any, write: Callable[[bytes], object]) -> bool:
        """Hand the body to `write` as it arrives; False when it was refused (413) or the client left."""
        try:
            return await read_body(receive, self.max_body_bytes, write)
        except GatewayError as error:
            await send_error(scope, send, error)
            return False


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError("invalid_request", f"request body is not valid JSON: {exc}") from None


async def read_body(receive: Any, cap: int, write: Callable[[bytes], object]) -> bool:
    """Hand a request body to `write` as it arrives; False when the client left. Raises 413 as soon
    as the body is known to exceed `cap` bytes."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        if chunk:
            write(chunk)
        if not message.get("more_body"):
            return True


def _exceeds(length: bytes, cap: int) -> bool:
    """Whether a Content-Length says more than `cap` bytes, however many digits it has."""
    digits = length.lstrip(b"0")
    return digits.isdigit() and (len(digits) > len(str(cap)) or int(digits) > cap)


def _is_document(content_type: bytes) -> bool:
    """Whether a body of this type is a document rather than the request's fields."""
    kind = content_type.partition(b";")[0].strip().lower()
    return bool(kind) and kind not in (b"application/json", b"application/x-www-form-urlencoded")


def _append(upload: Upload, data: bytes | memoryview) -> None:
    """Spool `data` into `upload`, keeping its first bytes as its `head`."""
    if len(upload.head) < HEAD_BYTES:
        upload.head += bytes(data[:HEAD_BYTES - len(upload.head)])
    upload.file.write(data)
    upload.size += len(data)


class DocumentReader:
    """A body that is the document itself, spooled as the one upload `file` of an `ir.Form`."""

    __slots__ = ("form", "_upload")

    def __init__(self, content_type: bytes, disposition: bytes, spool_bytes: int) -> None:
        filename = parse_options_header(disposition)[1].get(b"filename", b"") if disposition else b""
        self._upload = Upload("file", filename.decode("utf-8", "replace"), content_type.decode("latin-1").strip(),
                              SpooledTemporaryFile(max_size=spool_bytes))
        self.form = Form(files=[self._upload])

    def write(self, chunk: bytes) -> None:
        _append(self._upload, chunk)


def _url_encoded(body: bytes) -> Form:
    try:
        return Form(fields=parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise invalid("body", "must be UTF-8 text") from None


class FormReader:
    """Builds an `ir.Form` from multipart bytes as they arrive, through python-multipart's callbacks."""

    __slots__ = ("form", "_spool_bytes", "_parser", "_headers", "_field", "_value", "_name", "_text", "_upload")

    def __init__(self, boundary: bytes, spool_bytes: int) -> None:
        if not boundary:
            raise _not_multipart("the Content-Type has no boundary")
        self.form = Form()
        self._spool_bytes = spool_bytes
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self._name = ""
        self._text: bytearray | None = None
        self._upload: Upload | None = None
        try:
            self._parser = MultipartParser(boundary, {
                "on_header_field": self._on_header_field, "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end, "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data, "on_part_end": self._on_part_end})
        except FormParserError as exc:  # a boundary too long
            raise _not_multipart(str(exc)) from None

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise _not_multipart(str(exc)) from None

    def finish(self) -> Form:
        if self._parser.state != MultipartState.END:
            raise _not_multipart("it ends before its closing boundary")
        return self.form

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition"))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            self._text = bytearray()
        else:
            content_type = self._headers.get(b"content-type", b"application/octet-stream").decode("latin-1").strip()
            self._upload = Upload(self._name, filename.decode("utf-8", "replace"), content_type,
                                  SpooledTemporaryFile(max_size=self._spool_bytes))
            self.form.files.append(self._upload)  # listed at once, so an error still closes it
        self._headers = {}

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        upload = self._upload
        if upload is None:
            self._text += data[start:end]  # type: ignore[operator]  # _text is a bytearray whenever no upload is open
            return
        _append(upload, memoryview(data)[start:end])

    def _on_part_end(self) -> None:
        if self._text is not None:
            try:
                self.form.fields.append((self._name, self._text.decode()))
            except UnicodeDecodeError:
                raise invalid(self._name or "body", "must be UTF-8 text") from None
        self._text = None
        self._upload = None
