"""What the Files APIs of both dialects that have one (OpenAI's `/v1/files`, Anthropic's beta
`/v1/files`) share: the file as the gateway keeps it, an upload as their wires decode it, its type,
its id, and what each wire module (`openai_files.py`, `anthropic_files.py`) answers with.

One store keeps the files of both (`adapters/storage/files.py`), so a file uploaded through either
SDK is read, listed and referenced through either.
"""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import forms
from interlingua.adapters.dialects.base import Route, resource

PREFIX = "/v1/files"  # both dialects' paths
PDF = "application/pdf"
_UNTYPED = ("", "application/octet-stream", "binary/octet-stream")


@dataclass(slots=True, frozen=True)
class StoredFile:
    """A file as the store keeps it, without its bytes."""

    id: str
    filename: str
    purpose: str
    media_type: str
    size: int
    created: int
    expires: int | None


@dataclass(slots=True)
class FileUpload:
    """What an upload asks for."""

    upload: ir.Upload
    purpose: str
    media_type: str
    expires_in: int | None  # seconds from its creation


@dataclass(slots=True, frozen=True)
class Listing:
    """A list's query: the files after `after` (an id), at most `limit`, newest first if `desc`."""

    purpose: str | None
    after: str | None
    limit: int
    desc: bool


class FilesWire(Protocol):
    """A dialect's Files API: what the files layer reads and answers in that dialect."""

    def decode_upload(self, body: Any) -> FileUpload: ...
    def listing(self, query_string: bytes) -> Listing: ...
    def file_object(self, stored: StoredFile) -> dict[str, Any]: ...
    def file_list(self, files: list[StoredFile], has_more: bool) -> dict[str, Any]: ...
    def deleted_object(self, file_id: str) -> dict[str, Any]: ...
    def not_found(self, file_id: str) -> ir.GatewayError: ...


def route(method: str, path: str) -> Route | None:
    """The operation a path asks for, if it is one of the Files API's (the same in both dialects)."""
    return resource(method, path, PREFIX, {"POST": ops.FILES_CREATE, "GET": ops.FILES_LIST},
                    {"GET": ops.FILES_GET, "DELETE": ops.FILES_DELETE}, {("content", "GET"): ops.FILES_CONTENT})


def the_upload(body: Any, field: str = "file") -> ir.Upload:
    """The one file of a multipart upload's `field`."""
    if not isinstance(body, ir.Form):
        raise ir.invalid(field, "is required: send the request as multipart/form-data")
    uploads = forms.files(body, forms.values(body), field)
    if len(uploads) != 1:
        raise ir.invalid(field, "is required" if not uploads else "must be one file")
    if uploads[0].size == 0:
        raise ir.invalid(field, "is empty")
    return uploads[0]


def media_type_of(upload: ir.Upload) -> str:
    """The file's type by its signature (PDF, the common images), else as declared, else by its name."""
    if upload.head[:5] == b"%PDF-":
        return PDF
    image = forms.image_type(upload.head)
    if image:
        return image
    declared = upload.content_type.partition(";")[0].strip().lower()
    if declared not in _UNTYPED:
        return declared
    return mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"


def new_file_id() -> str:
    return f"file-{secrets.token_hex(12)}"
