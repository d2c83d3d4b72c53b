"""OpenAI Files (`/v1/files`, the Files API reference), the wire only: its routes, the upload form
checked into a `FileUpload`, and the objects it answers with.

The gateway keeps the files itself (`middleware/files.py`, `adapters/storage/files.py`), so a
file uploaded once is read by a Chat or Responses turn on any upstream: the turn's references by
id become the file's content inline (`file_refs.py`).
"""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import forms
from interlingua.adapters.dialects.base import Route

PREFIX = "/v1/files"
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
EXPIRY = (3600, 2_592_000)  # `expires_after[seconds]`: one hour to thirty days
BATCH_EXPIRY = 2_592_000  # a `batch` file expires after thirty days unless told otherwise, as OpenAI's
MAX_PAGE = 10_000  # a list's `limit`, at most and by default
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
    """What `POST /v1/files` asks for."""

    upload: ir.Upload
    purpose: str
    media_type: str
    expires_in: int | None  # seconds from its creation


def match(method: str, path: str) -> Route | None:
    """The operation a `/v1/files...` path asks for."""
    rest = path[len(PREFIX):].strip("/")
    if not rest:
        operation = {"POST": ops.FILES_CREATE, "GET": ops.FILES_LIST}.get(method)
        return Route(operation, {}) if operation is not None else None
    file_id, _, tail = rest.partition("/")
    if not tail:
        operation = {"GET": ops.FILES_GET, "DELETE": ops.FILES_DELETE}.get(method)
    else:
        operation = ops.FILES_CONTENT if tail == "content" and method == "GET" else None
    return Route(operation, {"id": file_id}) if operation is not None else None


def decode_upload(body: Any) -> FileUpload:
    if not isinstance(body, ir.Form):
        raise ir.invalid("file", "is required: send the request as multipart/form-data")
    values = forms.values(body)
    uploads = forms.files(body, values, "file")
    if len(uploads) != 1:
        raise ir.invalid("file", "is required" if not uploads else "must be one file")
    purpose = forms.choice(values, "purpose", PURPOSES)
    if purpose is None:
        raise ir.invalid("purpose", "is required")
    expires_in = BATCH_EXPIRY if purpose == "batch" else None
    if "expires_after[anchor]" in values or "expires_after[seconds]" in values:
        if forms.text(values, "expires_after[anchor]") != "created_at":
            raise ir.invalid("expires_after.anchor", "must be created_at")
        expires_in = forms.integer(values, "expires_after[seconds]")
        if expires_in is None or not EXPIRY[0] <= expires_in <= EXPIRY[1]:
            raise ir.invalid("expires_after.seconds", f"must be an integer from {EXPIRY[0]} to {EXPIRY[1]}")
    upload = uploads[0]
    if upload.size == 0:
        raise ir.invalid("file", "is empty")
    return FileUpload(upload, purpose, media_type_of(upload), expires_in)


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


def file_object(stored: StoredFile) -> dict[str, Any]:
    return {"id": stored.id, "object": "file", "bytes": stored.size, "created_at": stored.created,
            "filename": stored.filename, "purpose": stored.purpose, "status": "processed",
            "expires_at": stored.expires, "status_details": None}


def file_list(files: list[StoredFile], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": [file_object(stored) for stored in files],
            "first_id": files[0].id if files else None, "last_id": files[-1].id if files else None,
            "has_more": has_more}


def deleted_object(file_id: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "deleted": True}


def not_found(file_id: str) -> ir.GatewayError:
    return ir.GatewayError("not_found", f"No such File object: {file_id}", param="id")
